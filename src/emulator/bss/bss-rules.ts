// The emulator's billing rules: an explicit rule set a test (or the demo) writes out, standing
// for what Huawei's billing does — which operations bill, which answers count as valid calls, the
// free calls (amount, scope, exclusions), QPS-package coverage per sliding second, call packages
// and the price tiers. It deliberately imports nothing of frs-meter's catalogue flags or drawdown
// and price code (src/frs/operations.ts, src/drawdown/*): an emulator that applied the meter's own
// rules would agree with it by construction, and "zero difference" would prove nothing.

import { Money } from '../../billing/money';

/** Operation names as FRS's bill knows them (strings: not the meter's catalogue type). */
export type Op = string;

export interface PriceTier {
  /** Last call (1-based position among the month's pay-per-use calls) at this price; null = no end. */
  readonly upTo: number | null;
  readonly unitPrice: string;
}

export interface EmulatorPrices {
  readonly currency: string;
  /** Per operation, or "*" for any other. */
  readonly operations: Readonly<Record<string, readonly PriceTier[]>>;
}

export interface QpsPackageRule {
  readonly operation: Op;
  readonly qps: number;
  /** ISO times: the package covers [from, to). */
  readonly from: string;
  readonly to: string;
}

export type FreeScope = 'per_operation' | 'per_sub_service' | 'per_account';

export interface FreeTierRule {
  readonly calls: number;
  readonly scope: FreeScope;
  /** per_sub_service: operation → group name, as the test states it. */
  readonly groups?: Readonly<Record<Op, string>>;
  readonly excluded: readonly Op[];
}

/** Made-up prices, the same numbers as config/prices.example.json (so the demo's estimate matches). */
export const EXAMPLE_PRICES: EmulatorPrices = {
  currency: 'CNY',
  operations: {
    live_detect: [
      { upTo: 100000, unitPrice: '0.0123' },
      { upTo: null, unitPrice: '0.0111' },
    ],
    '*': [
      { upTo: 100000, unitPrice: '0.0045' },
      { upTo: 1000000, unitPrice: '0.0034' },
      { upTo: null, unitPrice: '0.0023' },
    ],
  },
};

/** The billed operations of SPEC §2, written out here rather than read from the meter's catalogue. */
export const HUAWEI_BILLED_OPERATIONS: readonly Op[] = ['face_detect', 'face_compare', 'face_search', 'live_detect', 'live_detect_face', 'face_add', 'face_delete', 'face_batch_delete'];

/** Checks a price table written by a test; a finite last tier is refused: Huawei prices every call. */
export function checkPrices(raw: unknown): EmulatorPrices {
  const o = raw as EmulatorPrices;
  if (typeof o !== 'object' || o === null || typeof o.currency !== 'string' || typeof o.operations !== 'object' || o.operations === null) {
    throw new Error('BSS emulator prices: expected {currency, operations: {op or "*": [{upTo, unitPrice}, ...]}}');
  }
  for (const [op, tiers] of Object.entries(o.operations)) {
    if (!Array.isArray(tiers) || tiers.length === 0) throw new Error(`BSS emulator prices.${op}: expected a non-empty list of tiers`);
    if (tiers[tiers.length - 1].upTo !== null && tiers[tiers.length - 1].upTo !== undefined) throw new Error(`BSS emulator prices.${op}: the last tier must be open (upTo null)`);
  }
  return o;
}

/** Cost of the pay-per-use calls at month positions first .. first + count − 1 (graduated tiers). */
export function tierCost(prices: EmulatorPrices, op: Op, first: number, count: number): Money {
  const tiers = prices.operations[op] ?? prices.operations['*'] ?? [];
  let total = new Money(0);
  let pos = first;
  let left = count;
  let lower = 1;
  for (const t of tiers) {
    const upper = t.upTo ?? Number.POSITIVE_INFINITY;
    if (left > 0 && pos <= upper && pos >= lower) {
      const n = Math.min(left, upper - pos + 1);
      total = total.plus(new Money(t.unitPrice).times(n));
      pos += n;
      left -= n;
    }
    lower = upper + 1;
  }
  return total;
}

export function freeKey(rule: FreeTierRule, op: Op): string {
  if (rule.scope === 'per_account') return '*';
  if (rule.scope === 'per_sub_service') return rule.groups?.[op] ?? op;
  return op;
}
