// A fresh, empty database per test file on the run's PostgreSQL (see test/global-setup.ts).
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { ensureDatabase } from '../../src/database/database';

export async function createTestDatabase(prefix = 't'): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = process.env.TEST_ADMIN_DATABASE_URL ?? process.env.DATABASE_URL;
  if (!admin) throw new Error('TEST_ADMIN_DATABASE_URL is not set: run the tests through jest (global setup starts Postgres)');
  const name = `frs_${prefix}_${randomBytes(5).toString('hex')}`;
  const url = await ensureDatabase(admin, name);
  return {
    url,
    async drop() {
      const client = new Client({ connectionString: admin });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
