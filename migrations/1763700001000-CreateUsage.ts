import { MigrationInterface, QueryRunner } from 'typeorm';

// Usage aggregates, one row per (minute, app, operation, kind, code, error_code, outcome).
// kind 'request' rows count client requests (code = status sent to the client); kind 'attempt'
// rows count upstream attempts (code = upstream status, 0 when none) and the billable ones.
// usage_flushes records every applied flush id in the same transaction as its counts, so a
// flush retried after an unknown outcome is recognised and never counted twice.
export class CreateUsage1763700001000 implements MigrationInterface {
  name = 'CreateUsage1763700001000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE usage_counts (
        minute        TIMESTAMPTZ NOT NULL,
        billing_month TEXT NOT NULL,
        app           TEXT NOT NULL,
        operation     TEXT NOT NULL,
        kind          TEXT NOT NULL CHECK (kind IN ('request', 'attempt')),
        code          INTEGER NOT NULL,
        error_code    TEXT NOT NULL,
        outcome       TEXT NOT NULL,
        count         BIGINT NOT NULL,
        billable      BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (minute, app, operation, kind, code, error_code, outcome)
      )`);
    await q.query(`CREATE INDEX usage_counts_month ON usage_counts (billing_month, operation)`);
    await q.query(`
      CREATE TABLE usage_flushes (
        flush_id   UUID PRIMARY KEY,
        replica    TEXT NOT NULL,
        events     BIGINT NOT NULL,
        flushed_at TIMESTAMPTZ NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE usage_flushes`);
    await q.query(`DROP TABLE usage_counts`);
  }
}
