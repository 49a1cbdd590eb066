// Budgets and their leases in Postgres. The one statement that matters is grant(): it takes a
// block from the app's month row and records the lease, atomically; every replica's grants
// serialise on that row, so what is committed to leases never passes the cap.

import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import Decimal from 'decimal.js';
import { DATA_SOURCE } from '../database/database';
import { OperationName } from '../frs/operations';

export type BudgetAction = 'block' | 'alert_only';

export interface Budget {
  readonly app: string;
  readonly monthlyCalls: number | null;
  readonly monthlyAmount: Decimal | null;
  /** Billable operations that count; null = every billable operation. */
  readonly operations: readonly OperationName[] | null;
  readonly action: BudgetAction;
  readonly alertThresholds: readonly number[];
  readonly updatedAt: number;
}

export interface Lease {
  readonly id: string;
  readonly calls: number;
  readonly amount: Decimal;
}

export interface LeaseRow {
  readonly id: string;
  readonly replica: string;
  readonly calls: number;
  readonly amount: string;
  readonly state: 'active' | 'returned' | 'expired';
  readonly returned_calls: number;
  readonly returned_amount: string;
  readonly granted_at: string;
  readonly expires_at: string;
  readonly closed_at: string | null;
}

interface BudgetDbRow {
  app: string;
  monthly_calls: string | null;
  monthly_amount: string | null;
  operations: string[] | null;
  action: BudgetAction;
  alert_thresholds: number[];
  updated_at: Date;
}

/** A block is at most this share of what is left, so blocks shrink to one call near the end. */
export const LEASE_DIVISOR = 8;

const CALLS_GRANT = `LEAST(b.monthly_calls - u.committed_calls, GREATEST($3::bigint, LEAST($4::bigint, (b.monthly_calls - u.committed_calls) / ${LEASE_DIVISOR})))`;
const AMOUNT_GRANT = `LEAST(b.monthly_amount - u.committed_amount, GREATEST($5::numeric, TRUNC((b.monthly_amount - u.committed_amount) / ${LEASE_DIVISOR}, 6)))`;

@Injectable()
export class BudgetsRepository {
  constructor(@Inject(DATA_SOURCE) private readonly db: DataSource) {}

  async list(): Promise<Budget[]> {
    const rows: BudgetDbRow[] = await this.db.query('SELECT * FROM app_budgets ORDER BY app');
    return rows.map(toBudget);
  }

  async put(b: Omit<Budget, 'updatedAt'>, nowMs: number): Promise<{ before?: Budget; after: Budget }> {
    return this.db.transaction(async (m) => {
      const old: BudgetDbRow[] = await m.query('SELECT * FROM app_budgets WHERE app = $1 FOR UPDATE', [b.app]);
      const rows: BudgetDbRow[] = await m.query(
        `INSERT INTO app_budgets (app, monthly_calls, monthly_amount, operations, action, alert_thresholds, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (app) DO UPDATE SET monthly_calls = EXCLUDED.monthly_calls, monthly_amount = EXCLUDED.monthly_amount,
           operations = EXCLUDED.operations, action = EXCLUDED.action, alert_thresholds = EXCLUDED.alert_thresholds, updated_at = EXCLUDED.updated_at
         RETURNING *`,
        [b.app, b.monthlyCalls, b.monthlyAmount?.toFixed() ?? null, b.operations, b.action, b.alertThresholds, new Date(nowMs)],
      );
      return { before: old[0] ? toBudget(old[0]) : undefined, after: toBudget(rows[0]) };
    });
  }

  async remove(app: string): Promise<Budget | undefined> {
    const rows: [BudgetDbRow[], number] = await this.db.query('DELETE FROM app_budgets WHERE app = $1 RETURNING *', [app]);
    return rows[0][0] ? toBudget(rows[0][0]) : undefined;
  }

  /**
   * One atomic statement: takes a block of the app's month budget for this replica. `needCalls`
   * (0 or 1) and `needAmount` (the marginal cost of the next call) are the least the block must
   * hold; nothing is granted (undefined) when the rest of the budget cannot cover them.
   */
  async grant(app: string, month: string, replica: string, needCalls: number, maxCalls: number, needAmount: Decimal, ttlMs: number): Promise<Lease | undefined> {
    await this.db.query('INSERT INTO budget_usage (app, billing_month) VALUES ($1, $2) ON CONFLICT DO NOTHING', [app, month]);
    const rows: Array<{ id: string; calls: string; amount: string }> = await this.db.query(
      `WITH g AS (
         UPDATE budget_usage u SET
           grant_calls = CASE WHEN b.monthly_calls IS NULL THEN 0 ELSE ${CALLS_GRANT} END,
           grant_amount = CASE WHEN b.monthly_amount IS NULL THEN 0 ELSE ${AMOUNT_GRANT} END,
           committed_calls = u.committed_calls + CASE WHEN b.monthly_calls IS NULL THEN 0 ELSE ${CALLS_GRANT} END,
           committed_amount = u.committed_amount + CASE WHEN b.monthly_amount IS NULL THEN 0 ELSE ${AMOUNT_GRANT} END
         FROM app_budgets b
         WHERE u.app = $1 AND u.billing_month = $2 AND b.app = u.app
           AND (b.monthly_calls IS NULL OR b.monthly_calls - u.committed_calls >= $3::bigint)
           AND (b.monthly_amount IS NULL OR b.monthly_amount - u.committed_amount >= $5::numeric)
         RETURNING u.grant_calls, u.grant_amount
       )
       INSERT INTO budget_leases (app, billing_month, replica, calls, amount, granted_at, expires_at)
       SELECT $1, $2, $6, grant_calls, grant_amount, now(), now() + make_interval(secs => $7::float8 / 1000) FROM g
       RETURNING id, calls, amount`,
      [app, month, needCalls, maxCalls, needAmount.toFixed(), replica, ttlMs],
    );
    const r = rows[0];
    return r ? { id: String(r.id), calls: Number(r.calls), amount: new Decimal(r.amount) } : undefined;
  }

  /** Gives the unused part of an active lease back, in one statement; an expired lease gives nothing back. */
  async giveBack(id: string, calls: number, amount: Decimal): Promise<void> {
    await this.db.query(
      `WITH r AS (
         UPDATE budget_leases SET state = 'returned', returned_calls = $2, returned_amount = $3, closed_at = now()
         WHERE id = $1 AND state = 'active' RETURNING app, billing_month
       )
       UPDATE budget_usage u SET committed_calls = u.committed_calls - $2, committed_amount = u.committed_amount - $3::numeric
       FROM r WHERE u.app = r.app AND u.billing_month = r.billing_month`,
      [id, calls, amount.toFixed()],
    );
  }

  /** Extends this replica's active leases; answers the ids still active (others expired meanwhile). */
  async renew(replica: string, ttlMs: number): Promise<Set<string>> {
    const rows: [Array<{ id: string }>, number] = await this.db.query(
      `UPDATE budget_leases SET expires_at = now() + make_interval(secs => $2::float8 / 1000) WHERE replica = $1 AND state = 'active' RETURNING id`,
      [replica, ttlMs],
    );
    return new Set(rows[0].map((r) => String(r.id)));
  }

  /**
   * Closes leases whose replica stopped renewing them (it crashed). Their calls stay committed:
   * the replica may have sent any of them before it died, and a cap must never be passed.
   */
  async expire(): Promise<number> {
    const rows: [unknown[], number] = await this.db.query(`UPDATE budget_leases SET state = 'expired', closed_at = now() WHERE state = 'active' AND expires_at < now() RETURNING id`);
    return rows[0].length;
  }

  async committed(month: string): Promise<Map<string, { calls: number; amount: Decimal }>> {
    const rows: Array<{ app: string; committed_calls: string; committed_amount: string }> = await this.db.query('SELECT app, committed_calls, committed_amount FROM budget_usage WHERE billing_month = $1', [month]);
    return new Map(rows.map((r) => [r.app, { calls: Number(r.committed_calls), amount: new Decimal(r.committed_amount) }]));
  }

  async leases(app: string, month: string): Promise<LeaseRow[]> {
    const rows: Array<Record<string, unknown>> = await this.db.query(
      `SELECT id, replica, calls, amount, state, returned_calls, returned_amount, granted_at, expires_at, closed_at
       FROM budget_leases WHERE app = $1 AND billing_month = $2 ORDER BY id`,
      [app, month],
    );
    return rows.map((r) => ({
      id: String(r.id),
      replica: String(r.replica),
      calls: Number(r.calls),
      amount: new Decimal(String(r.amount)).toFixed(),
      state: r.state as LeaseRow['state'],
      returned_calls: Number(r.returned_calls),
      returned_amount: new Decimal(String(r.returned_amount)).toFixed(),
      granted_at: (r.granted_at as Date).toISOString(),
      expires_at: (r.expires_at as Date).toISOString(),
      closed_at: r.closed_at ? (r.closed_at as Date).toISOString() : null,
    }));
  }

  /** Metered billable calls of the month per app and operation (all replicas, as flushed). */
  async billable(month: string): Promise<Array<{ app: string; operation: OperationName; n: number }>> {
    const rows: Array<{ app: string; operation: string; n: string }> = await this.db.query(
      `SELECT app, operation, SUM(billable)::bigint AS n FROM usage_counts WHERE billing_month = $1 AND kind = 'attempt' GROUP BY app, operation HAVING SUM(billable) > 0`,
      [month],
    );
    return rows.map((r) => ({ app: r.app, operation: r.operation as OperationName, n: Number(r.n) }));
  }
}

function toBudget(r: BudgetDbRow): Budget {
  return {
    app: r.app,
    monthlyCalls: r.monthly_calls === null ? null : Number(r.monthly_calls),
    monthlyAmount: r.monthly_amount === null ? null : new Decimal(r.monthly_amount),
    operations: r.operations as OperationName[] | null,
    action: r.action,
    alertThresholds: r.alert_thresholds.map(Number),
    updatedAt: r.updated_at.getTime(),
  };
}
