// Cost Center daily costs in Postgres (migration 1764001300000). A pull replaces the days it
// covered in one transaction, so a scheduled and a manual pull of the same days, or the same pull
// twice, leave the same rows. Also reads the per-day amounts of a final monthly bill (its hourly
// detail records carry bill_date), the third stage of a day's reconciliation.

import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DATA_SOURCE, LOCKS } from '../database/database';

export interface CostCenterRow {
  readonly day: string;
  readonly dimension: string;
  /** null when the dimension value maps to no operation. */
  readonly operation: string | null;
  readonly amount: string;
}

export interface CostCenterMonth {
  /** Days a pull covered, with when. */
  readonly days: readonly { day: string; fetched_at: Date; currency: string | null }[];
  readonly rows: readonly CostCenterRow[];
}

/** Second key of the transaction-scoped advisory lock (the first is LOCKS.billingSync). */
const COST_CENTER_LOCK_KEY = 13;

@Injectable()
export class CostCenterRepository {
  constructor(@Inject(DATA_SOURCE) private readonly db: DataSource) {}

  async saveDays(days: readonly string[], rows: readonly CostCenterRow[], currency: string | null, fetchedAt: number): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCKS.billingSync, COST_CENTER_LOCK_KEY]);
      await tx.query(`DELETE FROM cost_center_days WHERE day = ANY($1::date[])`, [days]);
      if (days.length > 0) {
        await tx.query(`INSERT INTO cost_center_days (day, fetched_at, currency) SELECT d, $2, $3 FROM unnest($1::date[]) AS d`, [days, new Date(fetchedAt).toISOString(), currency]);
      }
      if (rows.length > 0) {
        await tx.query(
          `INSERT INTO cost_center_daily (day, dimension, operation, amount)
           SELECT * FROM unnest($1::date[], $2::text[], $3::text[], $4::numeric[])`,
          [rows.map((r) => r.day), rows.map((r) => r.dimension), rows.map((r) => r.operation), rows.map((r) => r.amount)],
        );
      }
    });
  }

  async month(month: string): Promise<CostCenterMonth> {
    return this.db.transaction('REPEATABLE READ', async (tx) => {
      const days: { day: string; fetched_at: Date; currency: string | null }[] = await tx.query(
        `SELECT to_char(day, 'YYYY-MM-DD') AS day, fetched_at, currency FROM cost_center_days WHERE to_char(day, 'YYYY-MM') = $1 ORDER BY day`,
        [month],
      );
      const rows: CostCenterRow[] = await tx.query(
        `SELECT to_char(day, 'YYYY-MM-DD') AS day, dimension, operation, amount::text AS amount FROM cost_center_daily
          WHERE to_char(day, 'YYYY-MM') = $1 ORDER BY day, dimension`,
        [month],
      );
      return { days, rows };
    });
  }

  /** Per day and operation, the amounts of a final monthly bill's detail records; null while the month is not final. */
  async finalDaily(month: string): Promise<{ day: string; operation: string | null; amount: string }[] | null> {
    return this.db.transaction('REPEATABLE READ', async (tx) => {
      const m: { status: string }[] = await tx.query(`SELECT status FROM billing_months WHERE bill_cycle = $1`, [month]);
      if (m[0]?.status !== 'final') return null;
      return tx.query(
        `SELECT bill_date AS day, operation, sum(amount)::text AS amount FROM billing_resource_records
          WHERE bill_cycle = $1 AND statistic_type = 3 AND bill_date IS NOT NULL
          GROUP BY bill_date, operation ORDER BY bill_date, operation`,
        [month],
      );
    });
  }
}
