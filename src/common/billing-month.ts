// The billing month is the calendar month in BILLING_TIMEZONE (Asia/Shanghai by default), which
// is how Huawei cuts bills. These helpers are the only place that turns instants into months.

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
    formatters.set(timeZone, f);
  }
  return f;
}

function parts(ms: number, timeZone: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(ms))) {
    if (p.type !== 'literal') out[p.type] = Number(p.value);
  }
  return out;
}

const lastMonth = new Map<string, { readonly month: string; readonly start: number; readonly end: number }>();

/** `YYYY-MM` of the instant in the time zone. */
export function billingMonthOf(ms: number, timeZone: string): string {
  // The last month seen per zone answers without Intl (formatToParts costs ~7 µs, and the
  // drawdown engine asks per call when budgets price calls on the hot path).
  const c = lastMonth.get(timeZone);
  if (c !== undefined && ms >= c.start && ms < c.end) return c.month;
  const p = parts(ms, timeZone);
  const month = `${p.year}-${String(p.month).padStart(2, '0')}`;
  lastMonth.set(timeZone, { month, ...monthRange(month, timeZone) });
  return month;
}

export const MONTH_RE = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** The instant a local wall-clock time in the zone corresponds to (DST-safe by iteration). */
function zonedToUtc(year: number, month: number, day: number, timeZone: string): number {
  let guess = Date.UTC(year, month - 1, day);
  for (let i = 0; i < 3; i++) {
    const p = parts(guess, timeZone);
    const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
    const want = Date.UTC(year, month - 1, day);
    guess += want - asUtc;
  }
  return guess;
}

/** [start, end) of a billing month as epoch milliseconds. */
export function monthRange(month: string, timeZone: string): { start: number; end: number } {
  const m = MONTH_RE.exec(month);
  if (!m) throw new Error(`not a month: ${month} (expected YYYY-MM)`);
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const start = zonedToUtc(y, mo, 1, timeZone);
  const end = mo === 12 ? zonedToUtc(y + 1, 1, 1, timeZone) : zonedToUtc(y, mo + 1, 1, timeZone);
  return { start, end };
}

/** The instant each local day of the month starts, in order (DST-safe). */
export function dayStarts(month: string, timeZone: string): number[] {
  const m = MONTH_RE.exec(month);
  if (!m) throw new Error(`not a month: ${month} (expected YYYY-MM)`);
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const days = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  return Array.from({ length: days }, (_, i) => zonedToUtc(y, mo, i + 1, timeZone));
}

export function previousMonth(month: string): string {
  const [y, m] = month.split('-').map(Number);
  return m === 1 ? `${y - 1}-12` : `${y}-${String(m - 1).padStart(2, '0')}`;
}

export function nextMonth(month: string): string {
  const [y, m] = month.split('-').map(Number);
  return m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, '0')}`;
}

/** Day of month and hour in the zone, for schedules such as "after 10:00 on the 4th". */
export function localDayHour(ms: number, timeZone: string): { day: number; hour: number } {
  const p = parts(ms, timeZone);
  return { day: p.day, hour: p.hour };
}
