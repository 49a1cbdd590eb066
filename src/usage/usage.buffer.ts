// In-memory usage aggregates: the only thing the hot path touches. Events are folded into one
// counter per (minute, app, operation, kind, code, error_code, outcome), so memory grows with
// the number of keys, never with the number of calls, however long the database is away.

import { randomUUID } from 'node:crypto';
import { billingMonthOf } from '../common/billing-month';
import { findIn, insertIn, KeyTree } from '../common/key-tree';

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
  /** Rows by minute, app, operation, kind, code, error code, outcome (see key-tree.ts), and in a list. */
  private live: KeyTree<UsageRow> = new Map();
  private liveRows: UsageRow[] = [];
  private readonly key: [number, string, string, UsageKind, number, string, string] = [0, '', '', 'request', 0, '', ''];
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
    const key = this.key;
    key[0] = minute;
    key[1] = app;
    key[2] = operation;
    key[3] = kind;
    key[4] = code;
    key[5] = errorCode;
    key[6] = outcome;
    let row = findIn(this.live, key);
    if (row === undefined) {
      row = insertIn(this.live, key, { minute, month: this.lastMonth, app, operation, kind, code, errorCode, outcome, count: 0, billable: 0, possiblyBilled: 0, qpsOverflow: 0 });
      this.liveRows.push(row);
    }
    row.count++;
    if (billable) row.billable++;
    this.liveEvents++;
    return row;
  }

  /** Moves everything recorded so far into a batch; later events go to a fresh buffer. */
  take(): UsageBatch | undefined {
    if (this.liveRows.length === 0) return undefined;
    const batch: UsageBatch = { flushId: randomUUID(), rows: this.liveRows, events: this.liveEvents };
    this.live = new Map();
    this.liveRows = [];
    this.liveEvents = 0;
    return batch;
  }

  get events(): number {
    return this.liveEvents;
  }

  get keys(): number {
    return this.liveRows.length;
  }

  /** Billable calls per operation of `month` recorded but not yet taken. */
  billableByOperation(month: string, into: Map<string, number> = new Map()): Map<string, number> {
    for (const row of this.liveRows) {
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
