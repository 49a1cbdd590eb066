// PUT /admin/apps/{app}/budget input, checked before anything is written: every problem is named
// in one METER.0400 answer. Body (names are the contract, SPEC §8):
// {"monthly_calls": 1000, "monthly_amount": "250.00", "operations": ["face_detect"],
//  "action": "block", "alert_thresholds": [0.5, 0.8, 0.95]}

import Decimal from 'decimal.js';
import { Config, isBillable } from '../config/config';
import { KNOWN_OPERATIONS, OperationName } from '../frs/operations';
import { badRequest } from '../admin/meter-error';
import { BudgetAction } from './budgets.repository';

export interface BudgetInput {
  readonly monthlyCalls: number | null;
  readonly monthlyAmount: Decimal | null;
  readonly operations: readonly OperationName[] | null;
  readonly action: BudgetAction;
  readonly alertThresholds: readonly number[];
}

export const DEFAULT_THRESHOLDS = [0.5, 0.8, 0.95];
const FIELDS = ['monthly_calls', 'monthly_amount', 'operations', 'action', 'alert_thresholds'];
const AMOUNT = /^\d{1,14}(\.\d{1,6})?$/;

export function parseBudget(config: Config, raw: unknown): BudgetInput {
  const problems: string[] = [];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw badRequest('expected a JSON object body');
  const b = raw as Record<string, unknown>;
  for (const k of Object.keys(b)) if (!FIELDS.includes(k)) problems.push(`unknown field "${k}" (expected ${FIELDS.join(', ')})`);

  let monthlyCalls: number | null = null;
  if (b.monthly_calls !== undefined && b.monthly_calls !== null) {
    if (typeof b.monthly_calls !== 'number' || !Number.isInteger(b.monthly_calls) || b.monthly_calls < 1 || b.monthly_calls > 1e12) problems.push(`monthly_calls must be a whole number from 1 to 1000000000000, got ${JSON.stringify(b.monthly_calls)}`);
    else monthlyCalls = b.monthly_calls;
  }
  let monthlyAmount: Decimal | null = null;
  if (b.monthly_amount !== undefined && b.monthly_amount !== null) {
    // A string, as money leaves frs-meter: "250.00"; a JSON number would already be a binary float.
    if (typeof b.monthly_amount !== 'string' || !AMOUNT.test(b.monthly_amount) || new Decimal(b.monthly_amount).lte(0)) problems.push(`monthly_amount must be a positive decimal string with at most 6 decimals, e.g. "250.00", got ${JSON.stringify(b.monthly_amount)}`);
    else monthlyAmount = new Decimal(b.monthly_amount);
  }
  if (monthlyCalls === null && monthlyAmount === null && !problems.some((p) => p.startsWith('monthly_'))) problems.push('at least one cap is required: monthly_calls and/or monthly_amount');

  let operations: OperationName[] | null = null;
  if (b.operations !== undefined && b.operations !== null) {
    if (!Array.isArray(b.operations) || b.operations.length === 0) problems.push('operations must be a non-empty array of billable operations (omit it for all of them)');
    else {
      const known = KNOWN_OPERATIONS.map((o) => o.name as string);
      operations = [];
      for (const o of b.operations) {
        if (typeof o !== 'string' || !known.includes(o)) problems.push(`unknown operation ${JSON.stringify(o)}: expected one of ${known.join(', ')}`);
        else if (!isBillable(config, o as OperationName)) problems.push(`${o} is not billable, so it cannot count against a budget`);
        else if (!operations.includes(o as OperationName)) operations.push(o as OperationName);
      }
    }
  }

  const action = b.action;
  if (action !== 'block' && action !== 'alert_only') problems.push(`action must be "block" or "alert_only"${action === undefined ? ' (required)' : `, got ${JSON.stringify(action)}`}`);

  let alertThresholds = DEFAULT_THRESHOLDS;
  if (b.alert_thresholds !== undefined) {
    const t = b.alert_thresholds;
    if (!Array.isArray(t) || t.length > 10 || t.some((x) => typeof x !== 'number' || !(x > 0 && x <= 1)) || t.some((x, i) => i > 0 && x <= t[i - 1])) problems.push('alert_thresholds must be increasing ratios in (0, 1], at most 10, e.g. [0.5, 0.8, 0.95]');
    else alertThresholds = t as number[];
  }
  if (problems.length > 0) throw badRequest(problems.join('; '));
  return { monthlyCalls, monthlyAmount, operations, action: action as BudgetAction, alertThresholds };
}
