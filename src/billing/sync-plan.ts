// Which bill months to pull now, and whether what we pull is provisional or final: a pure
// function of the clock and of what is stored, so the schedule is tested with a ManualClock.
// Huawei generates month M's bill on the 3rd of M+1 and shows it after 12:00 on the 4th
// (frs-api.md §3.3, billing-api.md §0); until then the month's numbers are estimates.

import { billingMonthOf, localDayHour, previousMonth, nextMonth } from '../common/billing-month';

export type BillStatus = 'provisional' | 'final';

export interface SyncPolicy {
  readonly timeZone: string;
  /** Day of M+1 from which month M is final (4). */
  readonly finalDay: number;
  /** Local hour on `finalDay` from which month M is final (10). */
  readonly finalHour: number;
  /** Month M is re-pulled daily as final through this day of M+1, to catch corrections (7). */
  readonly finalUntilDay: number;
}

export interface StoredMonthState {
  readonly status: BillStatus;
  /** Last successful pull (epoch ms), whether or not it changed anything. */
  readonly fetchedAt: number;
}

export interface PlannedSync {
  readonly month: string;
  readonly status: BillStatus;
  readonly reason: string;
}

/** Month M is final once the clock is past `finalHour` on `finalDay` of M+1 (in the billing zone). */
export function monthStatusAt(month: string, nowMs: number, policy: SyncPolicy): BillStatus {
  const current = billingMonthOf(nowMs, policy.timeZone);
  const after = nextMonth(month);
  if (current > after) return 'final';
  if (current < after) return 'provisional';
  const { day, hour } = localDayHour(nowMs, policy.timeZone);
  return day > policy.finalDay || (day === policy.finalDay && hour >= policy.finalHour) ? 'final' : 'provisional';
}

/** `YYYY-MM-DD` of the instant in the billing zone. */
export function localDate(ms: number, timeZone: string): string {
  return `${billingMonthOf(ms, timeZone)}-${String(localDayHour(ms, timeZone).day).padStart(2, '0')}`;
}

/**
 * The pulls due at `nowMs`:
 * - the current month, provisional, once per local day;
 * - the previous month, provisional once per day until it is final, then final once per day
 *   through `finalUntilDay`, and once more whenever it is stored only as provisional;
 * - any older month still stored as provisional (the service was down when it became final).
 */
export function dueSyncs(nowMs: number, policy: SyncPolicy, stored: ReadonlyMap<string, StoredMonthState>): PlannedSync[] {
  const tz = policy.timeZone;
  const today = localDate(nowMs, tz);
  const current = billingMonthOf(nowMs, tz);
  const previous = previousMonth(current);
  const pulledToday = (m: string) => {
    const s = stored.get(m);
    return s !== undefined && localDate(s.fetchedAt, tz) === today;
  };
  const out: PlannedSync[] = [];

  if (!pulledToday(current)) out.push({ month: current, status: 'provisional', reason: 'daily pull of the current month' });

  const prevStatus = monthStatusAt(previous, nowMs, policy);
  const prevStored = stored.get(previous);
  if (prevStatus === 'provisional') {
    if (!pulledToday(previous)) out.push({ month: previous, status: 'provisional', reason: 'daily pull of the previous month until its bill is final' });
  } else {
    const { day } = localDayHour(nowMs, tz);
    if (prevStored?.status !== 'final') {
      out.push({ month: previous, status: 'final', reason: 'the previous month\'s bill became final' });
    } else if (day <= policy.finalUntilDay && !pulledToday(previous)) {
      out.push({ month: previous, status: 'final', reason: `daily re-pull of the final bill through day ${policy.finalUntilDay} to catch corrections` });
    }
  }

  const older = [...stored.entries()].filter(([m, s]) => m < previous && s.status === 'provisional').map(([m]) => m).sort();
  for (const m of older) out.push({ month: m, status: 'final', reason: 'stored only as provisional; its bill has been final since' });
  return out;
}
