// Usage in Postgres: idempotent batched flushes and the monthly totals read back from them.

import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DATA_SOURCE } from '../database/database';
import { UsageBatch } from './usage.buffer';

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
          `INSERT INTO usage_counts (minute, billing_month, app, operation, kind, code, error_code, outcome, count, billable)
           SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[], $8::text[], $9::bigint[], $10::bigint[])
           ON CONFLICT (minute, app, operation, kind, code, error_code, outcome)
           DO UPDATE SET count = usage_counts.count + EXCLUDED.count, billable = usage_counts.billable + EXCLUDED.billable`,
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
          ],
        );
      }
      const totals = await m.query(
        `SELECT operation, SUM(billable)::bigint AS billable FROM usage_counts WHERE billing_month = $1 AND kind = 'attempt' GROUP BY operation`,
        [month],
      );
      return { applied, monthBillable: toMap(totals) };
    });
  }

  async monthBillable(month: string, app?: string): Promise<Map<string, number>> {
    const rows = await this.db.query(
      `SELECT operation, SUM(billable)::bigint AS billable FROM usage_counts
       WHERE billing_month = $1 AND kind = 'attempt' AND ($2::text IS NULL OR app = $2) GROUP BY operation`,
      [month, app ?? null],
    );
    return toMap(rows);
  }

  async ping(): Promise<void> {
    await this.db.query('SELECT 1');
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function toMap(rows: { operation: string; billable: string }[]): Map<string, number> {
  return new Map(rows.map((r) => [r.operation, Number(r.billable)]));
}
