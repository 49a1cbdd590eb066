import { MigrationInterface, QueryRunner } from 'typeorm';

// Accounting columns and the monthly rollup (issue 10):
// - usage_counts.possibly_billed: attempts of billable operations cut at the proxy's timeout or
//   with the connection lost after the request was sent (FRS may have completed and billed them);
// - usage_counts.qps_overflow: valid calls over the QPS package's rate in their sliding second
//   (not covered by the package, billed on demand);
// - usage_month_totals: the same counts per billing month, maintained in the flush transaction,
//   so month reports and the flush's month totals read a few hundred rows instead of scanning
//   the month's minutes;
// - usage_flushes.flushed_at indexed, so flush ids past the retention horizon are pruned cheaply.
export class UsageAccounting1764001000000 implements MigrationInterface {
  name = 'UsageAccounting1764001000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE usage_counts ADD COLUMN possibly_billed BIGINT NOT NULL DEFAULT 0, ADD COLUMN qps_overflow BIGINT NOT NULL DEFAULT 0`);
    await q.query(`
      CREATE TABLE usage_month_totals (
        billing_month   TEXT NOT NULL,
        app             TEXT NOT NULL,
        operation       TEXT NOT NULL,
        kind            TEXT NOT NULL,
        code            INTEGER NOT NULL,
        error_code      TEXT NOT NULL,
        outcome         TEXT NOT NULL,
        count           BIGINT NOT NULL,
        billable        BIGINT NOT NULL DEFAULT 0,
        possibly_billed BIGINT NOT NULL DEFAULT 0,
        qps_overflow    BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (billing_month, app, operation, kind, code, error_code, outcome)
      )`);
    await q.query(`
      INSERT INTO usage_month_totals (billing_month, app, operation, kind, code, error_code, outcome, count, billable)
      SELECT billing_month, app, operation, kind, code, error_code, outcome, SUM(count), SUM(billable)
      FROM usage_counts GROUP BY 1, 2, 3, 4, 5, 6, 7`);
    await q.query(`CREATE INDEX usage_flushes_flushed_at ON usage_flushes (flushed_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX usage_flushes_flushed_at`);
    await q.query(`DROP TABLE usage_month_totals`);
    await q.query(`ALTER TABLE usage_counts DROP COLUMN qps_overflow, DROP COLUMN possibly_billed`);
  }
}
