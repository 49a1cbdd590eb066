import { rmSync } from 'node:fs';
import type { EmbeddedPostgres } from '../src/database/embedded-postgres';

export default async function globalTeardown(): Promise<void> {
  const pg = (globalThis as { __FRS_TEST_PG__?: EmbeddedPostgres }).__FRS_TEST_PG__;
  if (pg) await pg.stop();
  if (process.env.TEST_EMBEDDED_PG_DIR) rmSync(process.env.TEST_EMBEDDED_PG_DIR, { recursive: true, force: true });
}
