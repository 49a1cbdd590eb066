// FRS's per-API flow control: at most N accepted calls in any 1-second window, else FRS.0033.
// Uses the monotonic clock, not the emulator clock, so a frozen or shifted test clock does not
// freeze the window.

import { performance } from 'node:perf_hooks';
import { OPERATION_NAMES, OPERATION_BY_NAME, OperationName } from '../frs/operations';
import { OPERATION_KEY_HINT, Problems, isOperationName, isRecord } from './validation';

const WINDOW_MS = 1000;

export function validateQps(input: unknown): Partial<Record<OperationName, number>> {
  const p = new Problems();
  const out: Partial<Record<OperationName, number>> = {};
  if (!isRecord(input)) {
    p.add('qps must be a JSON object {operation: calls per second}');
    p.throwIfAny();
  }
  for (const [op, v] of Object.entries(input as Record<string, unknown>)) {
    if (!isOperationName(op)) p.add(`qps.${op}: expected ${OPERATION_KEY_HINT.replace(' or *', '')}`);
    else {
      const n = p.number(`qps.${op}`, v, 0, 1_000_000);
      if (n !== undefined && !Number.isInteger(n)) p.add(`qps.${op} must be a whole number, got ${n}`);
      else if (n !== undefined) out[op] = n;
    }
  }
  p.throwIfAny();
  return out;
}

export class QpsLimiter {
  private readonly limits = {} as Record<OperationName, number>;
  /** Accept times per operation, oldest first. */
  private readonly accepted = new Map<OperationName, number[]>();
  /** Accepted calls per operation in the current minute: the figures behind the X-ratelimit headers. */
  private readonly minute = new Map<OperationName, { start: number; used: number }>();

  constructor(initial?: Partial<Record<OperationName, number>>) {
    for (const op of OPERATION_NAMES) this.limits[op] = OPERATION_BY_NAME[op].defaultQps;
    if (initial) this.set(initial);
  }

  get(): Record<OperationName, number> {
    return { ...this.limits };
  }

  set(partial: unknown): Record<OperationName, number> {
    Object.assign(this.limits, validateQps(partial));
    return this.get();
  }

  /** Counts the call and returns true when it fits under the limit; a refused call is not counted. */
  admit(op: OperationName): boolean {
    const t = performance.now();
    let times = this.accepted.get(op);
    if (!times) this.accepted.set(op, (times = []));
    let expired = 0;
    while (expired < times.length && times[expired] <= t - WINDOW_MS) expired++;
    if (expired > 0) times.splice(0, expired);
    if (times.length >= this.limits[op]) return false;
    times.push(t);
    const m = this.minuteOf(op, t);
    m.used++;
    return true;
  }

  /**
   * FRS documents response headers `X-ratelimit` (total quota), `X-ratelimit-used` (described as
   * remaining) and `X-ratelimit-window` (minute/hour/day) without saying how they relate to the
   * per-second limit. The emulator's reading, one of several possible: a one-minute window whose
   * quota is the per-second limit × 60, and `used` as the calls accepted in it so far.
   */
  rateLimitHeaders(op: OperationName): Record<string, string> {
    const m = this.minuteOf(op, performance.now());
    return { 'X-ratelimit': String(this.limits[op] * 60), 'X-ratelimit-used': String(m.used), 'X-ratelimit-window': 'minute' };
  }

  private minuteOf(op: OperationName, t: number): { start: number; used: number } {
    let m = this.minute.get(op);
    if (!m || t - m.start >= 60_000) this.minute.set(op, (m = { start: t, used: 0 }));
    return m;
  }
}
