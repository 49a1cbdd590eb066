// Bills in Postgres. A month is replaced whole in one transaction (readers see the old month or
// the new one); a pull identical to what is stored only moves fetched_at. Reports read in one
// REPEATABLE READ transaction, so a month and its rows always come from the same commit.

import { Inject, Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { DATA_SOURCE, LOCKS } from '../database/database';
import { MonthData, PackageItemRow, ResourceRecord, SummaryRow, SUMMARY_AMOUNT_FIELDS } from './bill-normalize';
import type { BillStatus, StoredMonthState } from './sync-plan';

export type SyncKind = 'monthly_sum' | 'resource_records' | 'packages' | 'cost_center';
export const SYNC_KINDS: readonly SyncKind[] = ['monthly_sum', 'resource_records', 'packages'];

export type PackageItem = PackageItemRow;

export interface MonthRow {
  bill_cycle: string;
  status: BillStatus;
  service_type_code: string;
  currency: string | null;
  measure_id: number | null;
  consume_amount: string;
  cash_amount: string | null;
  credit_amount: string | null;
  coupon_amount: string | null;
  debt_amount: string | null;
  writeoff_amount: string | null;
  flexipurchase_coupon_amount: string | null;
  stored_value_card_amount: string | null;
  summary_rows: number;
  aggregated_records: number;
  detailed_records: number;
  content_sha256: string;
  fetched_at: Date;
  changed_at: Date;
}

export interface BilledOperationRow {
  /** null for records no key of the operation map matched. */
  operation: string | null;
  records: number;
  usage: string | null;
  free_resource_usage: string | null;
  amount: string | null;
  official_amount: string | null;
  /** Unit of `usage` and of `free_resource_usage` (a BSS measurement id; null when absent). */
  usage_measure_id?: number | null;
  free_resource_measure_id?: number | null;
  /** Distinct resource types of the group (to name what unmapped records are). */
  resource_types: string[];
}

export interface ReconciliationInputs {
  month: MonthRow | null;
  /** statistic_type=1 records grouped by operation. */
  billed: BilledOperationRow[];
  /** Sum of the amounts of all statistic_type=1 records. */
  recordsTotal: string | null;
  /** Valid (billable) calls per app and operation, from usage_counts. */
  metered: { app: string; operation: string; calls: number }[];
  /** Upstream attempts left without an answer (timeout, connection error) per operation. */
  /** Per operation: attempts cut after the request was sent (FRS may have billed them). */
  possiblyBilled: Map<string, number>;
  /** Per operation: attempts answered by the gateway's backend timeout (APIG.0201, 504). */
  gatewayTimeouts: Map<string, number>;
}

const SUMMARY_COLUMNS = `customer_id text, account_name text, service_type_code text, service_type_name text, resource_type_code text,
  resource_type_name text, charging_mode int, bill_type int, operation text, ${SUMMARY_AMOUNT_FIELDS.map((f) => `${f} numeric`).join(', ')}, raw jsonb, row_no int`;
const RECORD_COLUMNS = `statistic_type smallint, row_no int, operation text, bill_date text, bill_type int, customer_id text, region text,
  cloud_service_type text, resource_type text, resource_id text, resource_name text, product_spec_desc text, sku_code text, charge_mode text,
  usage_type text, usage numeric, usage_measure_id int, free_resource_usage numeric, free_resource_measure_id int, unit_price numeric,
  unit text, official_amount numeric, discount_amount numeric, amount numeric, trade_id text, consume_time text, effective_time text,
  expire_time text, raw jsonb`;
const PACKAGE_COLUMNS = `order_instance_id text, free_resource_id text, product_name text, status int, effective_time text, expire_time text,
  quota_reuse_mode int, usage_type_name text, remaining numeric, original numeric, measure_id int, quota_reuse_cycle int,
  quota_reuse_cycle_type int, start_time text, end_time text, raw jsonb`;

function names(columns: string): string {
  return columns
    .split(',')
    .map((c) => c.trim().split(/\s+/)[0])
    .join(', ');
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The per-month key for the writer lock: 2025-03 → 202503. */
function monthKey(month: string): number {
  return Number(month.replace('-', ''));
}

@Injectable()
export class BillingRepository {
  constructor(@Inject(DATA_SOURCE) private readonly db: DataSource) {}

  async storedMonths(): Promise<Map<string, StoredMonthState>> {
    const rows: { bill_cycle: string; status: BillStatus; fetched_at: Date }[] = await this.db.query(`SELECT bill_cycle, status, fetched_at FROM billing_months`);
    return new Map(rows.map((r) => [r.bill_cycle, { status: r.status, fetchedAt: new Date(r.fetched_at).getTime() }]));
  }

  /**
   * Stores a pulled month, replacing the previous pull of it in the same transaction. Writers of
   * one month are serialised by a transaction-scoped advisory lock (manual and scheduled syncs
   * may overlap). Returns whether anything but fetched_at changed.
   */
  async saveMonth(m: MonthData, now: number): Promise<{ changed: boolean }> {
    return this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCKS.billingSync, monthKey(m.cycle)]);
      const existing: { content_sha256: string }[] = await tx.query(`SELECT content_sha256 FROM billing_months WHERE bill_cycle = $1`, [m.cycle]);
      if (existing.length === 1 && existing[0].content_sha256 === m.contentSha256) {
        await tx.query(`UPDATE billing_months SET fetched_at = $2 WHERE bill_cycle = $1`, [m.cycle, iso(now)]);
        return { changed: false };
      }
      await tx.query(`DELETE FROM billing_months WHERE bill_cycle = $1`, [m.cycle]);
      const t = m.totals;
      const count = (st: 1 | 3) => m.records.filter((r) => r.statistic_type === st).length;
      await tx.query(
        `INSERT INTO billing_months (bill_cycle, status, service_type_code, currency, measure_id, consume_amount, cash_amount, credit_amount,
           coupon_amount, debt_amount, writeoff_amount, flexipurchase_coupon_amount, stored_value_card_amount, summary_rows,
           aggregated_records, detailed_records, content_sha256, fetched_at, changed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18)`,
        [
          m.cycle,
          m.status,
          m.serviceTypeCode,
          m.currency,
          m.measureId,
          t.consume_amount,
          t.cash_amount,
          t.credit_amount,
          t.coupon_amount,
          t.debt_amount,
          t.writeoff_amount,
          t.flexipurchase_coupon_amount,
          t.stored_value_card_amount,
          m.summary.length,
          count(1),
          count(3),
          m.contentSha256,
          iso(now),
        ],
      );
      await this.insertSummary(tx, m.cycle, m.summary);
      await this.insertRecords(tx, m.cycle, m.records);
      return { changed: true };
    });
  }

  private async insertSummary(tx: EntityManager, cycle: string, rows: readonly SummaryRow[]): Promise<void> {
    if (rows.length === 0) return;
    const json = rows.map((r, i) => {
      const { amounts, ...rest } = r;
      return { ...rest, ...amounts, row_no: i };
    });
    await tx.query(
      `INSERT INTO billing_summary_rows (bill_cycle, ${names(SUMMARY_COLUMNS)})
       SELECT $1, ${names(SUMMARY_COLUMNS)} FROM jsonb_to_recordset($2::jsonb) AS x(${SUMMARY_COLUMNS})`,
      [cycle, JSON.stringify(json)],
    );
  }

  private async insertRecords(tx: EntityManager, cycle: string, rows: readonly ResourceRecord[]): Promise<void> {
    const numbered = new Map<number, number>();
    const json = rows.map((r) => {
      const n = numbered.get(r.statistic_type) ?? 0;
      numbered.set(r.statistic_type, n + 1);
      return { ...r, row_no: n };
    });
    // Large months go in slices so one parameter stays a few MB at most.
    for (let i = 0; i < json.length; i += 5000) {
      await tx.query(
        `INSERT INTO billing_resource_records (bill_cycle, ${names(RECORD_COLUMNS)})
         SELECT $1, ${names(RECORD_COLUMNS)} FROM jsonb_to_recordset($2::jsonb) AS x(${RECORD_COLUMNS})`,
        [cycle, JSON.stringify(json.slice(i, i + 5000))],
      );
    }
  }

  async markSync(kinds: readonly SyncKind[], ok: boolean, at: number, error?: string): Promise<void> {
    for (const kind of kinds) {
      if (ok) {
        await this.db.query(
          `INSERT INTO billing_sync_state (kind, last_success_at) VALUES ($1, $2)
           ON CONFLICT (kind) DO UPDATE SET last_success_at = EXCLUDED.last_success_at`,
          [kind, iso(at)],
        );
      } else {
        await this.db.query(
          `INSERT INTO billing_sync_state (kind, last_error_at, last_error) VALUES ($1, $2, $3)
           ON CONFLICT (kind) DO UPDATE SET last_error_at = EXCLUDED.last_error_at, last_error = EXCLUDED.last_error`,
          [kind, iso(at), (error ?? '').slice(0, 1000)],
        );
      }
    }
  }

  async syncState(): Promise<{ kind: SyncKind; last_success_at: Date | null; last_error_at: Date | null; last_error: string | null }[]> {
    return this.db.query(`SELECT kind, last_success_at, last_error_at, last_error FROM billing_sync_state ORDER BY kind`);
  }

  /**
   * Stores a package pull as a new snapshot when it differs from the current one; otherwise
   * only the pull time moves. Returns the snapshot time in force.
   */
  async savePackages(items: readonly PackageItem[], contentSha256: string, now: number): Promise<{ changed: boolean; snapshotAt: Date }> {
    return this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1, 0)', [LOCKS.billingSync]);
      const state: { snapshot_at: Date | null; content_sha256: string | null }[] = await tx.query(`SELECT snapshot_at, content_sha256 FROM billing_sync_state WHERE kind = 'packages'`);
      const current = state[0];
      if (current?.snapshot_at && current.content_sha256 === contentSha256) {
        await tx.query(`UPDATE billing_sync_state SET last_success_at = $1 WHERE kind = 'packages'`, [iso(now)]);
        return { changed: false, snapshotAt: current.snapshot_at };
      }
      if (items.length > 0) {
        await tx.query(
          `INSERT INTO billing_package_snapshots (fetched_at, ${names(PACKAGE_COLUMNS)})
           SELECT $1, ${names(PACKAGE_COLUMNS)} FROM jsonb_to_recordset($2::jsonb) AS x(${PACKAGE_COLUMNS})
           ON CONFLICT DO NOTHING`,
          [iso(now), JSON.stringify(items)],
        );
      }
      await tx.query(
        `INSERT INTO billing_sync_state (kind, last_success_at, snapshot_at, content_sha256) VALUES ('packages', $1, $1, $2)
         ON CONFLICT (kind) DO UPDATE SET last_success_at = EXCLUDED.last_success_at, snapshot_at = EXCLUDED.snapshot_at, content_sha256 = EXCLUDED.content_sha256`,
        [iso(now), contentSha256],
      );
      return { changed: true, snapshotAt: new Date(now) };
    });
  }

  /** The package snapshot in force (the last pull that saw a change), or none. */
  async currentPackages(): Promise<{ snapshotAt: Date | null; checkedAt: Date | null; items: (PackageItem & { fetched_at: Date })[] }> {
    const state: { snapshot_at: Date | null; last_success_at: Date | null }[] = await this.db.query(`SELECT snapshot_at, last_success_at FROM billing_sync_state WHERE kind = 'packages'`);
    const snapshotAt = state[0]?.snapshot_at ?? null;
    if (!snapshotAt) return { snapshotAt: null, checkedAt: state[0]?.last_success_at ?? null, items: [] };
    const items = await this.db.query(`SELECT * FROM billing_package_snapshots WHERE fetched_at = $1 ORDER BY order_instance_id, free_resource_id`, [snapshotAt]);
    return { snapshotAt, checkedAt: state[0]?.last_success_at ?? null, items };
  }

  /** A stored month with its summary rows and records of one statistic type, from one snapshot. */
  async readMonth(month: string, statisticType: 1 | 3): Promise<{ month: MonthRow; summary: Record<string, unknown>[]; records: Record<string, unknown>[] } | null> {
    return this.db.transaction('REPEATABLE READ', async (tx) => {
      const rows: MonthRow[] = await tx.query(`SELECT * FROM billing_months WHERE bill_cycle = $1`, [month]);
      if (rows.length === 0) return null;
      const summary = await tx.query(`SELECT * FROM billing_summary_rows WHERE bill_cycle = $1 ORDER BY row_no`, [month]);
      const records = await tx.query(`SELECT * FROM billing_resource_records WHERE bill_cycle = $1 AND statistic_type = $2 ORDER BY row_no`, [month, statisticType]);
      return { month: rows[0], summary, records };
    });
  }

  /** What a reconciliation of `month` needs, read from one snapshot of the database. */
  async reconciliationInputs(month: string): Promise<ReconciliationInputs> {
    return this.db.transaction('REPEATABLE READ', async (tx) => {
      const months: MonthRow[] = await tx.query(`SELECT * FROM billing_months WHERE bill_cycle = $1`, [month]);
      const billed: BilledOperationRow[] = await tx.query(
        `SELECT operation, usage_measure_id, free_resource_measure_id, count(*)::int AS records, SUM(usage)::text AS usage, SUM(free_resource_usage)::text AS free_resource_usage,
                SUM(amount)::text AS amount, SUM(official_amount)::text AS official_amount,
                array_remove(array_agg(DISTINCT resource_type), NULL) AS resource_types
         FROM billing_resource_records WHERE bill_cycle = $1 AND statistic_type = 1
         GROUP BY operation, usage_measure_id, free_resource_measure_id ORDER BY operation NULLS LAST, usage_measure_id NULLS FIRST`,
        [month],
      );
      const total: { total: string | null }[] = await tx.query(
        `SELECT SUM(amount)::text AS total FROM billing_resource_records WHERE bill_cycle = $1 AND statistic_type = 1`,
        [month],
      );
      const metered: { app: string; operation: string; calls: string }[] = await tx.query(
        `SELECT app, operation, SUM(billable)::bigint AS calls FROM usage_month_totals
         WHERE billing_month = $1 AND kind = 'attempt' GROUP BY app, operation HAVING SUM(billable) > 0 ORDER BY app, operation`,
        [month],
      );
      // Attempts FRS may have billed without frs-meter seeing a 2xx: possibly-billed ones (cut after
      // the request was sent) first, then gateway timeouts (APIG.0201: the gateway gave up, the
      // backend may have finished). Connections never made (refused) cannot be billed and are not here.
      const unanswered: { operation: string; possibly: string; gateway: string }[] = await tx.query(
        `SELECT operation, SUM(possibly_billed)::bigint AS possibly,
                COALESCE(SUM(count) FILTER (WHERE error_code IN ('APIG.0201', 'APIGW.0201')), 0)::bigint AS gateway
         FROM usage_month_totals WHERE billing_month = $1 AND kind = 'attempt' GROUP BY operation`,
        [month],
      );
      return {
        month: months[0] ?? null,
        billed,
        recordsTotal: total[0]?.total ?? null,
        metered: metered.map((m) => ({ app: m.app, operation: m.operation, calls: Number(m.calls) })),
        possiblyBilled: new Map(unanswered.map((u) => [u.operation, Number(u.possibly)])),
        gatewayTimeouts: new Map(unanswered.map((u) => [u.operation, Number(u.gateway)])),
      };
    });
  }

  /** For the gauges: recent months' status and amount per charging mode, and metered − billed per operation. */
  async metricsSnapshot(fromMonth: string): Promise<{
    months: { bill_cycle: string; status: BillStatus }[];
    amounts: { bill_cycle: string; charging_mode: number | null; amount: string }[];
    differences: { bill_cycle: string; operation: string; metered: string; billed: string }[];
  }> {
    return this.db.transaction('REPEATABLE READ', async (tx) => {
      const months = await tx.query(`SELECT bill_cycle, status FROM billing_months WHERE bill_cycle >= $1 ORDER BY bill_cycle`, [fromMonth]);
      const amounts = await tx.query(
        `SELECT bill_cycle, charging_mode, SUM(consume_amount)::text AS amount FROM billing_summary_rows
         WHERE bill_cycle >= $1 GROUP BY bill_cycle, charging_mode ORDER BY 1, 2`,
        [fromMonth],
      );
      const differences = await tx.query(
        `WITH billed AS (
           SELECT bill_cycle, operation, SUM(usage) AS billed FROM billing_resource_records
           WHERE bill_cycle >= $1 AND statistic_type = 1 AND operation IS NOT NULL GROUP BY bill_cycle, operation),
         metered AS (
           SELECT billing_month AS bill_cycle, operation, SUM(billable) AS metered FROM usage_month_totals
           WHERE billing_month IN (SELECT bill_cycle FROM billing_months WHERE bill_cycle >= $1) AND kind = 'attempt'
           GROUP BY billing_month, operation HAVING SUM(billable) > 0)
         SELECT COALESCE(b.bill_cycle, m.bill_cycle) AS bill_cycle, COALESCE(b.operation, m.operation) AS operation,
                COALESCE(m.metered, 0)::text AS metered, COALESCE(b.billed, 0)::text AS billed
         FROM billed b FULL JOIN metered m ON b.bill_cycle = m.bill_cycle AND b.operation = m.operation
         ORDER BY 1, 2`,
        [fromMonth],
      );
      return { months, amounts, differences };
    });
  }
}
