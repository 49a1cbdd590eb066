import { MigrationInterface, QueryRunner } from 'typeorm';

// Every change made through the admin API: when, by which token (its fingerprint, never the
// token), what, and the state before and after. Rows are only ever inserted.
export class CreateAdminAudit1764000900000 implements MigrationInterface {
  name = 'CreateAdminAudit1764000900000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE admin_audit (
        id          BIGSERIAL PRIMARY KEY,
        at          TIMESTAMPTZ NOT NULL,
        actor       TEXT NOT NULL,
        scope       TEXT NOT NULL,
        action      TEXT NOT NULL,
        target      TEXT NOT NULL,
        before      JSONB,
        after       JSONB
      )`);
    await q.query(`CREATE INDEX admin_audit_at ON admin_audit (at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE admin_audit`);
  }
}
