import { MigrationInterface, QueryRunner } from 'typeorm';

// Cost Center daily costs (billing-api.md §8), one row per local day and dimension value (the
// resource or usage type FRS's costs are grouped by), with the operation it maps to (NULL when
// unmapped: package purchases, codes not in FRS_METER_BSS_OPERATION_MAP). cost_center_days says
// which days a pull covered and when, so a day with no costs at all is still known to be zero.
// A pull replaces its days in one transaction, so re-running it gives the same rows.
export class CreateCostCenterDaily1764001300000 implements MigrationInterface {
  name = 'CreateCostCenterDaily1764001300000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE cost_center_days (
        day        DATE PRIMARY KEY,
        fetched_at TIMESTAMPTZ NOT NULL,
        currency   TEXT
      )`);
    await q.query(`
      CREATE TABLE cost_center_daily (
        day       DATE NOT NULL REFERENCES cost_center_days (day) ON DELETE CASCADE,
        dimension TEXT NOT NULL,
        operation TEXT,
        amount    NUMERIC NOT NULL,
        PRIMARY KEY (day, dimension)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE cost_center_daily`);
    await q.query(`DROP TABLE cost_center_days`);
  }
}
