// Exact money for bills: BSS amounts arrive as JSON numbers or strings (billing-api.md §0,
// UNCERTAIN which), in yuan, jiao or fen (measure_id 1/2/3, §1.3). Nothing here goes through a JS
// float: response bodies are parsed with every number kept as its source text, and arithmetic is
// decimal.js.

import Decimal from 'decimal.js';

/** Enough digits for any bill; rounding only where a report asks for cents. */
export const Money = Decimal.clone({ precision: 64, rounding: Decimal.ROUND_HALF_UP, toExpNeg: -40, toExpPos: 60 });
export type Money = InstanceType<typeof Money>;

const NUMBER_RE = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const LOOSE_DECIMAL_RE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * JSON.parse, except that every number becomes the string of its source text, so
 * `{"amount": 0.1}` gives `{amount: "0.1"}` and 12345678901234567.891 keeps every digit.
 * Structure errors are still JSON.parse's: the text is only re-quoted around number tokens.
 */
export function parseJsonExact(text: string): unknown {
  let out = '';
  let i = 0;
  let copied = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) i += 2;
        else if (d === 0x22) {
          i++;
          break;
        } else i++;
      }
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      const start = i;
      i++;
      while (i < n && /[0-9.eE+-]/.test(text[i])) i++;
      const token = text.slice(start, i);
      if (!NUMBER_RE.test(token)) throw new SyntaxError(`Unexpected number ${JSON.stringify(token)} in JSON at position ${start}`);
      out += text.slice(copied, start) + '"' + token + '"';
      copied = i;
    } else i++;
  }
  out += text.slice(copied);
  return JSON.parse(out);
}

/** Reads an amount given as a JSON number or a string; undefined for null/absent/empty. */
export function toDecimal(v: unknown, where = 'amount'): Money | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new TypeError(`${where}: ${v} is not a finite number`);
    // Reached only when a caller parsed with plain JSON.parse; String() gives the shortest
    // text that round-trips, which is what was written for any realistic amount.
    return new Money(String(v));
  }
  if (typeof v === 'string') {
    const s = v.trim();
    if (!LOOSE_DECIMAL_RE.test(s)) throw new TypeError(`${where}: ${JSON.stringify(v)} is not a decimal number`);
    return new Money(s);
  }
  throw new TypeError(`${where}: expected a number or a decimal string, got ${typeof v}`);
}

/** Divisor of BSS `measure_id` (amount unit): 1 yuan, 2 jiao, 3 fen (older SDK models, §1.3). */
export function measureDivisor(measureId: unknown): number {
  const id = measureId === undefined || measureId === null || measureId === '' ? 1 : Number(measureId);
  switch (id) {
    case 1:
      return 1;
    case 2:
      return 10;
    case 3:
      return 100;
    default:
      throw new TypeError(`unknown amount measure_id ${JSON.stringify(measureId)} (expected 1 yuan, 2 jiao or 3 fen)`);
  }
}

/**
 * An amount in the main currency unit as an exact decimal string ("0.3", "-12.5", "0"), or
 * null when absent. `measureId` converts jiao and fen to yuan.
 */
export function amount(v: unknown, measureId?: unknown, where?: string): string | null {
  const d = toDecimal(v, where);
  if (d === undefined) return null;
  const divisor = measureDivisor(measureId);
  return canonical(divisor === 1 ? d : d.div(divisor));
}

/** Exact decimal text without exponent or trailing zeros. */
export function canonical(d: Money): string {
  const s = d.toFixed();
  return s === '-0' ? '0' : s;
}

/** Sum of decimal strings/numbers, exactly. */
export function sum(values: Iterable<unknown>): Money {
  let total = new Money(0);
  for (const v of values) {
    const d = toDecimal(v);
    if (d) total = total.plus(d);
  }
  return total;
}

/** Money for people: at least two decimals, more only when the value has them ("0.30", "0.12345"). */
export function formatMoney(v: Money | string | null | undefined): string | null {
  if (v === null || v === undefined) return null;
  const d = typeof v === 'string' ? new Money(v) : v;
  const fixed = d.toFixed(2);
  return d.eq(fixed) ? (fixed === '-0.00' ? '0.00' : fixed) : canonical(d);
}

/** A whole number from a JSON number or string field (counts, codes); undefined when absent. */
export function toInt(v: unknown, where = 'value'): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const s = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim() : '';
  if (!/^-?\d+$/.test(s)) throw new TypeError(`${where}: ${JSON.stringify(v)} is not a whole number`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new TypeError(`${where}: ${s} is out of range`);
  return n;
}

/**
 * Splits `total` into parts proportional to `weights`, each a multiple of `unit` (0.01 for
 * cents), summing exactly to `total`: largest remainder, ties to the larger weight, then to the
 * earlier entry. `total` must be a multiple of `unit`. Weights may be of any sign as long as
 * they do not sum to 0; when they do, every part is 0 and the total comes back as `unallocated`.
 */
export function allocate<K>(
  total: Money,
  weights: ReadonlyArray<readonly [K, Money]>,
  unit: Money = new Money('0.01'),
): { parts: Map<K, Money>; unallocated: Money } {
  const parts = new Map<K, Money>();
  const weightSum = weights.reduce((s, [, w]) => s.plus(w), new Money(0));
  if (weightSum.isZero()) {
    for (const [k] of weights) parts.set(k, new Money(0));
    return { parts, unallocated: total };
  }
  const units = total.div(unit);
  if (!units.isInteger()) throw new RangeError(`allocate: total ${canonical(total)} is not a multiple of ${canonical(unit)}`);
  const rows = weights.map(([k, w], index) => {
    const exact = units.times(w).div(weightSum);
    const floor = exact.floor();
    return { k, w, index, floor, rest: exact.minus(floor) };
  });
  // The floors add up to at most `units`; the few units left go to the largest remainders.
  let left = units.minus(rows.reduce((s, r) => s.plus(r.floor), new Money(0))).toNumber();
  const order = [...rows].sort((a, b) => b.rest.comparedTo(a.rest) || b.w.comparedTo(a.w) || a.index - b.index);
  const extra = new Set<number>();
  for (const r of order) {
    if (left <= 0) break;
    extra.add(r.index);
    left--;
  }
  for (const r of rows) parts.set(r.k, r.floor.plus(extra.has(r.index) ? 1 : 0).times(unit));
  return { parts, unallocated: new Money(0) };
}
