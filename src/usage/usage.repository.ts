// Usage in Postgres: idempotent batched flushes and the monthly totals read back from them.
// Each flush writes its minutes to usage_counts and adds the same counts to the per-month rollup
// usage_month_totals in one transaction, so month totals are a lookup of a few hundred rows at
// any volume (a month of 50 apps × 15 operations is ~3 M minute rows, whose sum took 300 ms),
// and to the per-minute rollup usage_minute_totals (requests and billable calls of all apps), so
// the console's 24 h chart reads 1,440 rows.

import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DATA_SOURCE } from '../database/database';
import { UsageBatch, UsageRow } from './usage.buffer';

export interface FlushResult {
  /** false when this flush id had been applied before (a retry after an unknown outcome). */
  readonly applied: boolean;
  /** Billable calls per operation of `month`, read in the same transaction. */
  readonly monthBillable: Map<string, number>;
}

@Injectable()
export class UsageRepository {
  constructor(@Inject(DATA_SOURCE) private readonly db: DataSource) {}

  /**
   * Writes a batch in one transaction together with its flush id. Rows are sorted by key so that
   * replicas flushing overlapping keys lock them in the same order and never deadlock.
   */
  async applyFlush(batch: UsageBatch, replica: string, month: string): Promise<FlushResult> {
    return this.db.transaction(async (m) => {
      const claimed = await m.query(
        `INSERT INTO usage_flushes (flush_id, replica, events) VALUES ($1, $2, $3) ON CONFLICT (flush_id) DO NOTHING RETURNING flush_id`,
        [batch.flushId, replica, batch.events],
      );
      const applied = claimed.length === 1;
      if (applied) {
        const rows = [...batch.rows].sort((a, b) =>
          a.minute - b.minute || cmp(a.app, b.app) || cmp(a.operation, b.operation) || cmp(a.kind, b.kind) || a.code - b.code || cmp(a.errorCode, b.errorCode) || cmp(a.outcome, b.outcome),
        );
        await m.query(
          `INSERT INTO usage_counts (minute, billing_month, app, operation, kind, code, error_code, outcome, count, billable, possibly_billed, qps_overflow)
           SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[])
           ON CONFLICT (minute, app, operation, kind, code, error_code, outcome)
           DO UPDATE SET count = usage_counts.count + EXCLUDED.count, billable = usage_counts.billable + EXCLUDED.billable,
                         possibly_billed = usage_counts.possibly_billed + EXCLUDED.possibly_billed, qps_overflow = usage_counts.qps_overflow + EXCLUDED.qps_overflow`,
          [
            rows.map((r) => new Date(r.minute).toISOString()),
            rows.map((r) => r.month),
            rows.map((r) => r.app),
            rows.map((r) => r.operation),
            rows.map((r) => r.kind),
            rows.map((r) => r.code),
            rows.map((r) => r.errorCode),
            rows.map((r) => r.outcome),
            rows.map((r) => r.count),
            rows.map((r) => r.billable),
            rows.map((r) => r.possiblyBilled ?? 0),
            rows.map((r) => r.qpsOverflow ?? 0),
          ],
        );
        const months = monthRows(rows);
        await m.query(
          `INSERT INTO usage_month_totals (billing_month, app, operation, kind, code, error_code, outcome, count, billable, possibly_billed, qps_overflow)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[])
           ON CONFLICT (billing_month, app, operation, kind, code, error_code, outcome)
           DO UPDATE SET count = usage_month_totals.count + EXCLUDED.count, billable = usage_month_totals.billable + EXCLUDED.billable,
                         possibly_billed = usage_month_totals.possibly_billed + EXCLUDED.possibly_billed, qps_overflow = usage_month_totals.qps_overflow + EXCLUDED.qps_overflow`,
          [
            months.map((r) => r.month),
            months.map((r) => r.app),
            months.map((r) => r.operation),
            months.map((r) => r.kind),
            months.map((r) => r.code),
            months.map((r) => r.errorCode),
            months.map((r) => r.outcome),
            months.map((r) => r.count),
            months.map((r) => r.billable),
            months.map((r) => r.possiblyBilled),
            months.map((r) => r.qpsOverflow),
          ],
        );
        const minutes = minuteRows(rows);
        if (minutes.length > 0) {
          await m.query(
            `INSERT INTO usage_minute_totals (minute, requests, billable)
             SELECT * FROM unnest($1::timestamptz[], $2::bigint[], $3::bigint[])
             ON CONFLICT (minute) DO UPDATE SET requests = usage_minute_totals.requests + EXCLUDED.requests, billable = usage_minute_totals.billable + EXCLUDED.billable`,
            [minutes.map((r) => new Date(r.minute).toISOString()), minutes.map((r) => r.requests), minutes.map((r) => r.billable)],
          );
        }
      }
      const totals = await m.query(
        `SELECT operation, SUM(billable)::bigint AS billable FROM usage_month_totals WHERE billing_month = $1 AND kind = 'attempt' GROUP BY operation`,
        [month],
      );
      return { applied, monthBillable: toMap(totals) };
    });
  }

  async monthBillable(month: string, app?: string): Promise<Map<string, number>> {
    const rows = await this.db.query(
      `SELECT operation, SUM(billable)::bigint AS billable FROM usage_month_totals
       WHERE billing_month = $1 AND kind = 'attempt' AND ($2::text IS NULL OR app = $2) GROUP BY operation`,
      [month, app ?? null],
    );
    return toMap(rows);
  }

  /**
   * Forgets flush ids recorded before `beforeMs`. A flush id only has to be remembered while a
   * replica may still retry that batch (an unknown outcome, then the database away); past the
   * horizon (FRS_METER_FLUSH_ID_RETENTION_HOURS) no replica still holds it. Returns rows deleted.
   */
  async pruneFlushes(beforeMs: number): Promise<number> {
    const result: [unknown[], number] = await this.db.query(`DELETE FROM usage_flushes WHERE flushed_at < $1`, [new Date(beforeMs)]);
    return Array.isArray(result) ? Number(result[1] ?? 0) : 0;
  }

  async ping(): Promise<void> {
    await this.db.query('SELECT 1');
  }
}

/** A batch's rows summed per billing month (the rollup's key), sorted like the minute rows. */
function monthRows(rows: readonly UsageRow[]): { month: string; app: string; operation: string; kind: string; code: number; errorCode: string; outcome: string; count: number; billable: number; possiblyBilled: number; qpsOverflow: number }[] {
  const byKey = new Map<string, { month: string; app: string; operation: string; kind: string; code: number; errorCode: string; outcome: string; count: number; billable: number; possiblyBilled: number; qpsOverflow: number }>();
  for (const r of rows) {
    const key = `${r.month}|${r.app}|${r.operation}|${r.kind}|${r.code}|${r.errorCode}|${r.outcome}`;
    const acc = byKey.get(key);
    if (acc) {
      acc.count += r.count;
      acc.billable += r.billable;
      acc.possiblyBilled += r.possiblyBilled ?? 0;
      acc.qpsOverflow += r.qpsOverflow ?? 0;
    } else {
      byKey.set(key, { month: r.month, app: r.app, operation: r.operation, kind: r.kind, code: r.code, errorCode: r.errorCode, outcome: r.outcome, count: r.count, billable: r.billable, possiblyBilled: r.possiblyBilled ?? 0, qpsOverflow: r.qpsOverflow ?? 0 });
    }
  }
  return [...byKey.values()].sort((a, b) => cmp(a.month, b.month) || cmp(a.app, b.app) || cmp(a.operation, b.operation) || cmp(a.kind, b.kind) || a.code - b.code || cmp(a.errorCode, b.errorCode) || cmp(a.outcome, b.outcome));
}

/**
 * A batch's rows summed per minute: client requests and billable attempts, in minute order (the
 * lock order replicas share). Minutes with neither (only non-billable attempts) are left out.
 */
function minuteRows(rows: readonly UsageRow[]): { minute: number; requests: number; billable: number }[] {
  const byMinute = new Map<number, { minute: number; requests: number; billable: number }>();
  for (const r of rows) {
    const requests = r.kind === 'request' ? r.count : 0;
    const billable = r.kind === 'attempt' ? r.billable : 0;
    if (requests === 0 && billable === 0) continue;
    const acc = byMinute.get(r.minute);
    if (acc) {
      acc.requests += requests;
      acc.billable += billable;
    } else byMinute.set(r.minute, { minute: r.minute, requests, billable });
  }
  return [...byMinute.values()].sort((a, b) => a.minute - b.minute);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function toMap(rows: { operation: string; billable: string }[]): Map<string, number> {
  return new Map(rows.map((r) => [r.operation, Number(r.billable)]));
}
