import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { openDatabase } from '../src/database/database';
import { createTestDatabase } from './support/db';

describe('database', () => {
  it('runs every migration on an empty database and is idempotent on the next start', async () => {
    const db = await createTestDatabase('mig');
    try {
      const first = await openDatabase({ url: db.url, dataDir: '', embeddedPort: 0 });
      const tables = await first.dataSource.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`);
      const names = tables.map((t: { table_name: string }) => t.table_name);
      expect(names).toEqual(expect.arrayContaining(['apps', 'usage_counts', 'usage_flushes', 'migrations']));
      const ran = Number((await first.dataSource.query('SELECT count(*) AS n FROM migrations'))[0].n);
      await first.close();
      const second = await openDatabase({ url: db.url, dataDir: '', embeddedPort: 0 });
      const again = Number((await second.dataSource.query('SELECT count(*) AS n FROM migrations'))[0].n);
      await second.close();
      expect(again).toBe(ran);
    } finally {
      await db.drop();
    }
  });

  it('starts an embedded PostgreSQL, keeps its data across a stop and a restart', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'frs-meter-emb-'));
    chmodSync(dir, 0o755); // as root the server runs as `postgres`, which must reach the folder
    try {
      const a = await openDatabase({ dataDir: dir, embeddedPort: 0 });
      expect(a.embedded).toBeDefined();
      await a.dataSource.query(`INSERT INTO apps (name, api_key_hash, api_key_hint, access_key, secret_key_enc) VALUES ('keep', 'h', 'x', 'AK', 'enc')`);
      await a.close();
      expect(a.embedded?.running).toBe(false);
      const b = await openDatabase({ dataDir: dir, embeddedPort: 0 });
      const rows = await b.dataSource.query(`SELECT name FROM apps`);
      expect(rows).toEqual([{ name: 'keep' }]);
      // A process killed outright leaves its server running: the next start takes over anyway.
      await b.dataSource.destroy();
      const c = await openDatabase({ dataDir: dir, embeddedPort: 0 });
      expect(await c.dataSource.query(`SELECT name FROM apps`)).toEqual([{ name: 'keep' }]);
      expect(b.embedded?.running).toBe(false);
      await c.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
