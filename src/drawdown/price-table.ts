// The price table behind the pay-per-use cost estimate (FRS_METER_PRICE_TABLE_FILE). Huawei's
// FRS prices are tiered by monthly volume and the tier numbers are not in any source we trust,
// so frs-meter ships no prices: the operator writes the table from their contract or the price
// page (config/prices.example.json shows the shape with made-up numbers). Money is decimal.js,
// amounts leave as strings.
//
// Tiers are graduated: each call is priced by the tier its position in the month falls in
// (the 1st..upTo-th call at the first tier's price, the next ones at the second's, ...).
// The position counts the month's pay-per-use calls of the operation by default, or every
// valid call with "tierBasis": "valid_calls" (when the free calls count towards the volume).

import Decimal from 'decimal.js';
import { readFileSync } from 'node:fs';
import { OPERATION_NAMES, OperationName } from '../frs/operations';

export type TierBasis = 'pay_per_use' | 'valid_calls';

export interface PriceTier {
  /** Last call (1-based position in the month) priced at this tier; undefined = no end. */
  readonly upTo?: number;
  readonly unitPrice: Decimal;
}

export class PriceTable {
  constructor(
    readonly currency: string,
    readonly tierBasis: TierBasis,
    private readonly tiers: ReadonlyMap<string, readonly PriceTier[]>,
    /** true when the file says it is an example: its numbers are made up. */
    readonly example: boolean,
    readonly source: string,
  ) {}

  /** Has a price for this operation (its own tiers or the "*" default)? */
  covers(operation: OperationName): boolean {
    return this.tiers.has(operation) || this.tiers.has('*');
  }

  /** Cost of `count` calls at positions first .. first + count - 1 of the month; null when unpriced. */
  cost(operation: OperationName, first: number, count: number): Decimal | null {
    const tiers = this.tiers.get(operation) ?? this.tiers.get('*');
    if (!tiers) return null;
    let total = new Decimal(0);
    if (count <= 0) return total;
    const last = first + count - 1;
    let lower = 1;
    for (const tier of tiers) {
      const upper = tier.upTo ?? Infinity;
      const from = Math.max(first, lower);
      const to = Math.min(last, upper);
      if (to >= from) total = total.plus(tier.unitPrice.times(to - from + 1));
      if (upper >= last) break;
      lower = upper + 1;
    }
    return total;
  }
}

/** Reads and checks a price table file; every problem is listed in one error naming the file. */
export function loadPriceTable(file: string): PriceTable {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`FRS_METER_PRICE_TABLE_FILE=${file} could not be read as JSON: ${(err as Error).message}`);
  }
  return parsePriceTable(raw, file);
}

export function parsePriceTable(raw: unknown, source = 'price table'): PriceTable {
  const problems: string[] = [];
  const obj = (raw ?? {}) as Record<string, unknown>;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) problems.push('expected a JSON object');
  const currency = obj.currency;
  if (typeof currency !== 'string' || !/^[A-Z]{3}$/.test(currency)) problems.push('"currency" must be a 3-letter currency code such as "CNY"');
  const basis = obj.tierBasis ?? 'pay_per_use';
  if (basis !== 'pay_per_use' && basis !== 'valid_calls') problems.push('"tierBasis" must be "pay_per_use" or "valid_calls"');
  const ops = obj.operations;
  const tiers = new Map<string, PriceTier[]>();
  if (typeof ops !== 'object' || ops === null || Array.isArray(ops)) {
    problems.push('"operations" must be an object {operation or "*": [{"upTo": calls or null, "unitPrice": "decimal"}, ...]}');
  } else {
    for (const [op, list] of Object.entries(ops as Record<string, unknown>)) {
      if (op !== '*' && !(OPERATION_NAMES as readonly string[]).includes(op)) {
        problems.push(`operations.${op}: unknown operation (expected one of ${OPERATION_NAMES.join(', ')} or "*")`);
        continue;
      }
      const parsed = parseTiers(`operations.${op}`, list, problems);
      if (parsed) tiers.set(op, parsed);
    }
  }
  if (problems.length > 0) throw new Error(`${source} is not a valid price table:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return new PriceTable(currency as string, basis as TierBasis, tiers, obj.example === true, source);
}

function parseTiers(where: string, list: unknown, problems: string[]): PriceTier[] | undefined {
  if (!Array.isArray(list) || list.length === 0) {
    problems.push(`${where} must be a non-empty array of tiers`);
    return undefined;
  }
  const out: PriceTier[] = [];
  let previous = 0;
  list.forEach((t: unknown, i) => {
    const tier = (t ?? {}) as Record<string, unknown>;
    const upTo = tier.upTo;
    const last = i === list.length - 1;
    if (upTo === null || upTo === undefined) {
      if (!last) problems.push(`${where}[${i}].upTo may only be open (null) on the last tier`);
    } else if (last) {
      // Calls past a finite last tier would be priced at nothing; Huawei prices every call.
      problems.push(`${where}[${i}].upTo must be null on the last tier (an open end): calls beyond ${String(upTo)} would otherwise have no price`);
    } else if (typeof upTo !== 'number' || !Number.isInteger(upTo) || upTo <= previous) {
      problems.push(`${where}[${i}].upTo must be a whole number of calls above the previous tier's (${previous})`);
    } else {
      previous = upTo;
    }
    const price = tier.unitPrice;
    let unitPrice: Decimal | undefined;
    try {
      if (typeof price !== 'string' && typeof price !== 'number') throw new Error('type');
      unitPrice = new Decimal(price);
      if (!unitPrice.isFinite() || unitPrice.isNegative()) throw new Error('range');
    } catch {
      problems.push(`${where}[${i}].unitPrice must be a non-negative decimal, as a string such as "0.0040"`);
    }
    if (unitPrice) out.push({ upTo: typeof upTo === 'number' ? upTo : undefined, unitPrice });
  });
  return out;
}
