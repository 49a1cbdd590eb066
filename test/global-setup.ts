// Starts one PostgreSQL for the whole run: the server in DATABASE_URL when set, else an embedded
// one in a temporary folder. Tests create their own databases on it (test/support/db.ts).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { EmbeddedPostgres } from '../src/database/embedded-postgres';

export default async function globalSetup(): Promise<void> {
  if (process.env.DATABASE_URL) {
    process.env.TEST_ADMIN_DATABASE_URL = process.env.DATABASE_URL;
    return;
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'frs-meter-test-'));
  const pg = new EmbeddedPostgres({ dataDir: dir, port: 0 });
  process.env.TEST_ADMIN_DATABASE_URL = await pg.start();
  (globalThis as { __FRS_TEST_PG__?: EmbeddedPostgres }).__FRS_TEST_PG__ = pg;
  process.env.TEST_EMBEDDED_PG_DIR = dir;
}
