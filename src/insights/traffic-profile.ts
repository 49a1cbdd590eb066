// The forecast's traffic model, deliberately simple so finance can check it by hand:
//
// 1. Profile. For each operation, local weekday (Mon…Sun) and hour: the mean number of billable
//    calls in that hour over the days of the history window that fall on that weekday. A slot
//    with no such day (history shorter than a week) falls back to the mean of that hour over all
//    history days.
// 2. Residuals. For each whole history day: its actual calls ÷ what the profile says for it. The
//    10th, 50th and 90th percentiles of these ratios (linear interpolation) scale the profile for
//    the rest of the month: a low, a middle and a high traffic path. With fewer than 3 days of
//    history the ratios are taken as 1 (no interval: the report says so).
// 3. The paths are fed through the drawdown engine (forecast.service.ts), so free-tier burn-out,
//    package run-outs and amounts follow the same rules as metered calls.
//
// The ratio applies to every remaining day at once (a level shift, not independent daily noise),
// which makes the month's interval wide rather than falsely narrow; the backtest reports how often
// it really holds the true total.

import { OperationName } from '../frs/operations';

const HOUR = 3600_000;
export const QUANTILES = [0.1, 0.5, 0.9] as const;
export type Quantile = (typeof QUANTILES)[number];

/** Billable calls of one operation in one hour (hour = its start, epoch ms). */
export interface HourCount {
  readonly hour: number;
  readonly operation: OperationName;
  readonly calls: number;
}

export interface TrafficProfile {
  /** Expected calls in the hour starting at `hour` (any time, past or future). */
  expected(operation: OperationName, hour: number): number;
  /** Quantiles of actual ÷ expected per history day. */
  readonly ratios: ReadonlyMap<OperationName, Readonly<Record<Quantile, number>>>;
  /** Whole history days the ratios were taken from, per operation. */
  readonly residualDays: ReadonlyMap<OperationName, number>;
}

export interface LocalTime {
  /** 0 = Monday … 6 = Sunday. */
  readonly weekday: number;
  readonly hour: number;
  /** YYYY-MM-DD */
  readonly date: string;
}

/** Weekday, hour and date of an instant in a time zone. */
export function localTime(ms: number, timeZone: string): LocalTime {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', hourCycle: 'h23' }).formatToParts(new Date(ms));
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  const weekday = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(get('weekday'));
  return { weekday, hour: Number(get('hour')), date: `${get('year')}-${get('month')}-${get('day')}` };
}

/** The p-th quantile of sorted values, linear between neighbours. */
export function quantile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * p;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * Builds the profile from hourly counts in [from, to). `from` and `to` should be local midnights
 * so every history day is whole; hours without a count are hours with no calls.
 */
export function buildProfile(counts: readonly HourCount[], operations: readonly OperationName[], from: number, to: number, timeZone: string): TrafficProfile {
  // Every history hour, so hours without calls count as 0.
  const hours: { hour: number; t: LocalTime }[] = [];
  for (let h = from; h < to; h += HOUR) hours.push({ hour: h, t: localTime(h, timeZone) });
  const byHour = new Map<string, number>();
  for (const c of counts) byHour.set(`${c.operation}|${c.hour}`, (byHour.get(`${c.operation}|${c.hour}`) ?? 0) + c.calls);

  const slotSum = new Map<string, number>();
  const slotDays = new Map<string, number>();
  const hourSum = new Map<string, number>();
  const hourDays = new Map<string, number>();
  for (const { hour, t } of hours) {
    for (const op of operations) {
      const n = byHour.get(`${op}|${hour}`) ?? 0;
      const slot = `${op}|${t.weekday}|${t.hour}`;
      slotSum.set(slot, (slotSum.get(slot) ?? 0) + n);
      slotDays.set(slot, (slotDays.get(slot) ?? 0) + 1);
      const h = `${op}|${t.hour}`;
      hourSum.set(h, (hourSum.get(h) ?? 0) + n);
      hourDays.set(h, (hourDays.get(h) ?? 0) + 1);
    }
  }
  const expectedAt = (op: OperationName, t: LocalTime): number => {
    const slot = `${op}|${t.weekday}|${t.hour}`;
    const days = slotDays.get(slot);
    if (days) return (slotSum.get(slot) ?? 0) / days;
    const hd = hourDays.get(`${op}|${t.hour}`);
    return hd ? (hourSum.get(`${op}|${t.hour}`) ?? 0) / hd : 0;
  };

  const ratios = new Map<OperationName, Record<Quantile, number>>();
  const residualDays = new Map<OperationName, number>();
  for (const op of operations) {
    const perDay = new Map<string, { actual: number; expected: number; hours: number }>();
    for (const { hour, t } of hours) {
      const d = perDay.get(t.date) ?? { actual: 0, expected: 0, hours: 0 };
      d.actual += byHour.get(`${op}|${hour}`) ?? 0;
      d.expected += expectedAt(op, t);
      d.hours++;
      perDay.set(t.date, d);
    }
    const rs = [...perDay.values()].filter((d) => d.hours >= 23 && d.expected > 0).map((d) => d.actual / d.expected).sort((a, b) => a - b);
    residualDays.set(op, rs.length);
    ratios.set(op, rs.length >= 3 ? { 0.1: quantile(rs, 0.1), 0.5: quantile(rs, 0.5), 0.9: quantile(rs, 0.9) } : { 0.1: 1, 0.5: 1, 0.9: 1 });
  }
  const times = new Map<number, LocalTime>();
  const timeOf = (hour: number): LocalTime => {
    let t = times.get(hour);
    if (!t) times.set(hour, (t = localTime(hour, timeZone)));
    return t;
  };
  return {
    expected: (op, hour) => expectedAt(op, timeOf(hour)),
    ratios,
    residualDays,
  };
}
