// In-memory usage aggregates: the only thing the hot path touches. Events are folded into one
// counter per (minute, app, operation, kind, code, error_code, outcome), so memory grows with
// the number of keys, never with the number of calls, however long the database is away.

import { randomUUID } from 'node:crypto';
import { billingMonthOf } from '../common/billing-month';

export type UsageKind = 'request' | 'attempt';

export interface UsageRow {
  readonly minute: number;
  readonly month: string;
  readonly app: string;
  readonly operation: string;
  readonly kind: UsageKind;
  readonly code: number;
  readonly errorCode: string;
  readonly outcome: string;
  count: number;
  billable: number;
  /** Attempts FRS may have billed although no answer came (cut after the request was sent). */
  possiblyBilled: number;
  /** Billable calls over the QPS package's rate in their sliding second. */
  qpsOverflow: number;
}

/** A set of rows taken out of the live buffer, with the id that makes its flush idempotent. */
export interface UsageBatch {
  readonly flushId: string;
  readonly rows: readonly UsageRow[];
  readonly events: number;
}

export class UsageBuffer {
  private live = new Map<string, UsageRow>();
  private liveEvents = 0;
  private lastMinute = -1;
  private lastMonth = '';

  constructor(private readonly timeZone: string) {}

  recordRequest(nowMs: number, app: string, operation: string, code: number, errorCode: string, outcome: string): void {
    this.add(nowMs, app, operation, 'request', code, errorCode, outcome, false);
  }

  recordAttempt(nowMs: number, app: string, operation: string, code: number, errorCode: string, outcome: string, billable: boolean, possiblyBilled = false, overQps = false): void {
    const row = this.add(nowMs, app, operation, 'attempt', code, errorCode, outcome, billable);
    if (possiblyBilled) row.possiblyBilled++;
    if (overQps && billable) row.qpsOverflow++;
  }

  private add(nowMs: number, app: string, operation: string, kind: UsageKind, code: number, errorCode: string, outcome: string, billable: boolean): UsageRow {
    const minute = nowMs - (nowMs % 60_000);
    if (minute !== this.lastMinute) {
      this.lastMinute = minute;
      this.lastMonth = billingMonthOf(minute, this.timeZone);
    }
    const key = `${minute}|${app}|${operation}|${kind}|${code}|${errorCode}|${outcome}`;
    let row = this.live.get(key);
    if (row === undefined) {
      row = { minute, month: this.lastMonth, app, operation, kind, code, errorCode, outcome, count: 0, billable: 0, possiblyBilled: 0, qpsOverflow: 0 };
      this.live.set(key, row);
    }
    row.count++;
    if (billable) row.billable++;
    this.liveEvents++;
    return row;
  }

  /** Moves everything recorded so far into a batch; later events go to a fresh buffer. */
  take(): UsageBatch | undefined {
    if (this.live.size === 0) return undefined;
    const rows = [...this.live.values()];
    const batch: UsageBatch = { flushId: randomUUID(), rows, events: this.liveEvents };
    this.live = new Map();
    this.liveEvents = 0;
    return batch;
  }

  get events(): number {
    return this.liveEvents;
  }

  get keys(): number {
    return this.live.size;
  }

  /** Billable calls per operation of `month` recorded but not yet taken. */
  billableByOperation(month: string, into: Map<string, number> = new Map()): Map<string, number> {
    for (const row of this.live.values()) {
      if (row.billable > 0 && row.month === month) into.set(row.operation, (into.get(row.operation) ?? 0) + row.billable);
    }
    return into;
  }
}

/** Billable calls per operation of `month` in a batch that has not reached the database yet. */
export function batchBillable(batch: UsageBatch, month: string, into: Map<string, number>): Map<string, number> {
  for (const row of batch.rows) {
    if (row.billable > 0 && row.month === month) into.set(row.operation, (into.get(row.operation) ?? 0) + row.billable);
  }
  return into;
}
