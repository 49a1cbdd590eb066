// The package advisor's arithmetic, pure so a test can check it against a hand calculation.
// Inputs are what was observed — per operation the month's valid calls (from the drawdown engine),
// the free calls it may use, and a histogram of per-second peaks — and the offers the operator
// configured (FRS_METER_PACKAGE_OFFERS_FILE: sizes and prices; none ship with frs-meter).
//
// QPS package of q QPS: in a second whose peak was c calls, min(c, q) are covered and c − q
// overflow. The histogram counts attempts, so the shares are applied to the month's valid calls.
// Overflow calls fall to the next steps (free calls, then pay-per-use). QPS packages do not add
// up (two 10-QPS packages are not 20 QPS) and each is bound to one project: one size per
// operation is advised, never a sum.
// Call package of S calls at price P: drawn before the free calls, so the month costs
// P + pay-per-use(max(0, V − S − F)); break-even is the paid volume whose pay-per-use cost reaches P.

import Decimal from 'decimal.js';
import { OperationName } from '../frs/operations';

export interface QpsOffer {
  readonly qps: number;
  readonly price: string;
}

export interface CallOffer {
  readonly calls: number;
  readonly price: string;
}

export interface Offers {
  readonly currency: string;
  readonly qps_packages: readonly QpsOffer[];
  readonly call_packages: readonly CallOffer[];
}

export interface AdviceInput {
  readonly operation: OperationName;
  readonly monthCalls: number;
  readonly freeCalls: number;
  /** calls in the busiest sliding second → number of seconds with that peak (seconds without calls left out). */
  readonly peaks: ReadonlyMap<number, number>;
  /** Pay-per-use cost of `count` calls from the month's first paid call; null when unpriced. */
  readonly payPerUse: (count: number) => Decimal | null;
}

export interface OperationAdvice {
  readonly operation: OperationName;
  readonly month_calls: number;
  readonly free_calls: number;
  readonly peak_qps: number;
  readonly seconds_with_calls: number;
  readonly pay_per_use_cost: string | null;
  readonly qps_packages: { qps: number; price: string; covered_share: string; overflow_calls: number; overflow_cost: string | null; total_cost: string | null; saving: string | null }[];
  readonly recommended_qps_package: number | null;
  readonly call_packages: { calls: number; price: string; total_cost: string | null; saving: string | null; break_even_paid_calls: number | null }[];
  readonly recommended_call_package: number | null;
}

const money = (d: Decimal | null): string | null => (d === null ? null : d.toFixed(2));

export function advise(input: AdviceInput, offers: Offers): OperationAdvice {
  const { monthCalls: V, freeCalls: F, payPerUse } = input;
  const paid = (n: number) => payPerUse(Math.max(0, n));
  const base = paid(V - F);
  let observed = 0;
  let seconds = 0;
  let peak = 0;
  for (const [c, k] of input.peaks) {
    observed += c * k;
    seconds += k;
    peak = Math.max(peak, c);
  }

  const qps = [...offers.qps_packages].sort((a, b) => a.qps - b.qps).map((o) => {
    let covered = 0;
    for (const [c, k] of input.peaks) covered += Math.min(c, o.qps) * k;
    const share = observed === 0 ? 1 : covered / observed;
    const overflow = Math.round(V * (1 - share));
    const overflowCost = paid(overflow - F);
    const total = overflowCost === null ? null : overflowCost.plus(o.price);
    return { qps: o.qps, price: new Decimal(o.price).toFixed(2), covered_share: share.toFixed(4), overflow_calls: overflow, overflow_cost: money(overflowCost), total, saving: total === null || base === null ? null : base.minus(total) };
  });
  const calls = [...offers.call_packages].sort((a, b) => a.calls - b.calls).map((o) => {
    const total = paid(V - o.calls - F)?.plus(o.price) ?? null;
    return { calls: o.calls, price: new Decimal(o.price).toFixed(2), total, saving: total === null || base === null ? null : base.minus(total), break_even_paid_calls: breakEven(payPerUse, new Decimal(o.price)) };
  });
  const best = <T extends { total: Decimal | null; saving: Decimal | null }>(xs: T[]): T | undefined =>
    xs.filter((x) => x.saving !== null && x.saving.gt(0)).sort((a, b) => a.total!.cmp(b.total!))[0];
  const bestQps = best(qps);
  const bestCalls = best(calls);
  return {
    operation: input.operation,
    month_calls: V,
    free_calls: F,
    peak_qps: peak,
    seconds_with_calls: seconds,
    pay_per_use_cost: money(base),
    qps_packages: qps.map(({ total, saving, ...q }) => ({ ...q, total_cost: money(total), saving: money(saving) })),
    recommended_qps_package: bestQps?.qps ?? null,
    call_packages: calls.map(({ total, saving, ...c }) => ({ ...c, total_cost: money(total), saving: money(saving) })),
    recommended_call_package: bestCalls?.calls ?? null,
  };
}

/** The fewest paid calls whose pay-per-use cost reaches `price`; null when unpriced or never within 10⁹ calls. */
function breakEven(payPerUse: (n: number) => Decimal | null, price: Decimal): number | null {
  let hi = 1;
  for (;;) {
    const c = payPerUse(hi);
    if (c === null) return null;
    if (c.gte(price)) break;
    if (hi > 1e9) return null;
    hi *= 2;
  }
  let lo = 0;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (payPerUse(mid)!.gte(price)) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** Reads and checks an offers file's content; every problem listed. */
export function parseOffers(raw: unknown, source: string): Offers {
  const problems: string[] = [];
  const o = (raw ?? {}) as Record<string, unknown>;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) problems.push('expected a JSON object');
  const list = <T>(key: string, size: string): T[] => {
    const v = o[key] ?? [];
    if (!Array.isArray(v)) {
      problems.push(`${key} must be a list`);
      return [];
    }
    return v.map((x: Record<string, unknown>, i) => {
      const n = x?.[size];
      const price = x?.price;
      if (!Number.isInteger(n) || (n as number) <= 0) problems.push(`${key}[${i}].${size} must be a whole number > 0`);
      if (typeof price !== 'string' || !/^\d+(\.\d+)?$/.test(price)) problems.push(`${key}[${i}].price must be a decimal string such as "99.00"`);
      return { [size]: n, price } as T;
    });
  };
  const offers: Offers = {
    currency: typeof o.currency === 'string' ? o.currency : (problems.push('currency must be a string such as "CNY"'), ''),
    qps_packages: list<QpsOffer>('qps_packages', 'qps'),
    call_packages: list<CallOffer>('call_packages', 'calls'),
  };
  if (problems.length > 0) throw new Error(`${source}: ${problems.join('; ')}`);
  return offers;
}
