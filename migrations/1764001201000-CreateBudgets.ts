import { MigrationInterface, QueryRunner } from 'typeorm';

// Per-app monthly budgets (issue 12) and the leases replicas spend them through.
// app_budgets: the caps as the admin API set them. budget_usage: per app and billing month, what
// has been committed to leases (spent or still held); a lease is granted by one UPDATE of this
// row, so concurrent replicas serialise on it and committed never passes the cap.
// budget_leases: every block handed out, with its fate — returned (unused part given back on
// shutdown or when idle), spent, or expired (the replica stopped renewing it: it crashed, and any
// of its calls may have been sent, so they stay committed).
export class CreateBudgets1764001201000 implements MigrationInterface {
  name = 'CreateBudgets1764001201000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE app_budgets (
        app              TEXT PRIMARY KEY,
        monthly_calls    BIGINT CHECK (monthly_calls > 0),
        monthly_amount   NUMERIC(20, 6) CHECK (monthly_amount > 0),
        operations       TEXT[],
        action           TEXT NOT NULL CHECK (action IN ('block', 'alert_only')),
        alert_thresholds DOUBLE PRECISION[] NOT NULL,
        updated_at       TIMESTAMPTZ NOT NULL,
        CHECK (monthly_calls IS NOT NULL OR monthly_amount IS NOT NULL)
      )`);
    await q.query(`
      CREATE TABLE budget_usage (
        app              TEXT NOT NULL,
        billing_month    TEXT NOT NULL,
        committed_calls  BIGINT NOT NULL DEFAULT 0,
        committed_amount NUMERIC(20, 6) NOT NULL DEFAULT 0,
        grant_calls      BIGINT NOT NULL DEFAULT 0,
        grant_amount     NUMERIC(20, 6) NOT NULL DEFAULT 0,
        PRIMARY KEY (app, billing_month)
      )`);
    await q.query(`
      CREATE TABLE budget_leases (
        id              BIGSERIAL PRIMARY KEY,
        app             TEXT NOT NULL,
        billing_month   TEXT NOT NULL,
        replica         TEXT NOT NULL,
        calls           BIGINT NOT NULL,
        amount          NUMERIC(20, 6) NOT NULL,
        state           TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'returned', 'expired')),
        returned_calls  BIGINT NOT NULL DEFAULT 0,
        returned_amount NUMERIC(20, 6) NOT NULL DEFAULT 0,
        granted_at      TIMESTAMPTZ NOT NULL,
        expires_at      TIMESTAMPTZ NOT NULL,
        closed_at       TIMESTAMPTZ
      )`);
    await q.query(`CREATE INDEX budget_leases_active ON budget_leases (app, billing_month) WHERE state = 'active'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE budget_leases`);
    await q.query(`DROP TABLE budget_usage`);
    await q.query(`DROP TABLE app_budgets`);
  }
}
