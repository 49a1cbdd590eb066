import { MigrationInterface, QueryRunner } from 'typeorm';

// Applications that call FRS through the proxy. The API key is kept only as a SHA-256 hash
// (it is a 256-bit random value, so a fast hash is enough); the secret key must be recoverable
// to verify HMAC signatures, so it is encrypted (AES-256-GCM) with FRS_METER_SECRET_KEY.
export class CreateApps1763700000000 implements MigrationInterface {
  name = 'CreateApps1763700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE apps (
        id            BIGSERIAL PRIMARY KEY,
        name          TEXT NOT NULL,
        api_key_hash  TEXT NOT NULL UNIQUE,
        api_key_hint  TEXT NOT NULL,
        access_key    TEXT NOT NULL UNIQUE,
        secret_key_enc TEXT NOT NULL,
        created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
        deleted_at    TIMESTAMPTZ
      )`);
    await q.query(`CREATE UNIQUE INDEX apps_name_live ON apps (name) WHERE deleted_at IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE apps`);
  }
}
