import { MigrationInterface, QueryRunner } from 'typeorm';

// QPS packages and call packages registered through the admin API.
// qps_packages keeps every package ever registered: the current one per operation has
// replaced_at NULL (FRS allows one QPS package per API and packages do not add up, so a new one
// replaces the old). Old rows stay because cost attribution of past months needs to know which
// minutes a package covered.
// call_packages: remaining calls are never stored; they are computed from usage_counts since
// registered_at, so they survive restarts and count every replica.
export class CreateQuota1763700002000 implements MigrationInterface {
  name = 'CreateQuota1763700002000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE qps_packages (
        id          BIGSERIAL PRIMARY KEY,
        operation   TEXT NOT NULL,
        qps         INTEGER NOT NULL CHECK (qps > 0),
        starts_at   TIMESTAMPTZ NOT NULL,
        expires_at  TIMESTAMPTZ NOT NULL,
        created_at  TIMESTAMPTZ NOT NULL,
        replaced_at TIMESTAMPTZ,
        CHECK (expires_at > starts_at)
      )`);
    await q.query(`CREATE UNIQUE INDEX qps_packages_current ON qps_packages (operation) WHERE replaced_at IS NULL`);
    await q.query(`
      CREATE TABLE call_packages (
        id            TEXT PRIMARY KEY,
        operations    TEXT[] NOT NULL CHECK (cardinality(operations) > 0),
        total_calls   BIGINT NOT NULL CHECK (total_calls > 0),
        used_calls    BIGINT NOT NULL CHECK (used_calls >= 0 AND used_calls <= total_calls),
        starts_at     TIMESTAMPTZ NOT NULL,
        expires_at    TIMESTAMPTZ NOT NULL,
        registered_at TIMESTAMPTZ NOT NULL,
        CHECK (expires_at > starts_at)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE call_packages`);
    await q.query(`DROP TABLE qps_packages`);
  }
}
