import { MigrationInterface, QueryRunner } from 'typeorm';

// Calls per minute across all apps and operations (the console's 24 h chart), kept in the flush
// transaction beside usage_month_totals. A day is 1,440 rows of it, where the same day of
// usage_counts is one row per minute × app × operation × outcome (~430k for 50 apps), whose sum
// took 180 ms. It is a rollup kept by every flush, not a cache of settled minutes: a replica that
// buffered through a database outage flushes into past minutes, and those land here too.
//   requests: client requests (kind 'request'); billable: valid upstream attempts (kind 'attempt').
export class UsageMinuteTotals1764001400000 implements MigrationInterface {
  name = 'UsageMinuteTotals1764001400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE usage_minute_totals (
        minute   TIMESTAMPTZ PRIMARY KEY,
        requests BIGINT NOT NULL DEFAULT 0,
        billable BIGINT NOT NULL DEFAULT 0
      )`);
    await q.query(`
      INSERT INTO usage_minute_totals (minute, requests, billable)
      SELECT minute,
             COALESCE(SUM(count) FILTER (WHERE kind = 'request'), 0),
             COALESCE(SUM(billable) FILTER (WHERE kind = 'attempt'), 0)
      FROM usage_counts GROUP BY minute`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE usage_minute_totals`);
  }
}
