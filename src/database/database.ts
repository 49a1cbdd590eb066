// Opens the database the service runs on: DATABASE_URL when given, else an embedded PostgreSQL
// under FRS_METER_DATA_DIR. Migrations run at start under an advisory lock, so replicas that
// start together do not race each other.

import { DataSource } from 'typeorm';
import * as path from 'node:path';
import { Client } from 'pg';
import { MIGRATIONS } from '../../migrations';
import { EmbeddedPostgres } from './embedded-postgres';

export const DATA_SOURCE = Symbol('DATA_SOURCE');

/** Advisory lock keys; one per job that only one replica may run at a time. */
export const LOCKS = { migrations: 4_711_001, billingSync: 4_711_002 } as const;

export interface OpenedDatabase {
  readonly dataSource: DataSource;
  readonly url: string;
  readonly embedded?: EmbeddedPostgres;
  close(): Promise<void>;
}

export function createDataSource(url: string): DataSource {
  return new DataSource({
    type: 'postgres',
    url,
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    synchronize: false,
    logging: false,
    extra: { max: 10, connectionTimeoutMillis: 5_000, application_name: 'frs-meter' },
  });
}

/** Creates `name` on the server of `adminUrl` if it does not exist yet. */
export async function ensureDatabase(adminUrl: string, name: string): Promise<string> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function runMigrations(dataSource: DataSource): Promise<void> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [LOCKS.migrations]);
    await dataSource.runMigrations({ transaction: 'each' });
  } finally {
    await runner.query('SELECT pg_advisory_unlock($1)', [LOCKS.migrations]).catch(() => undefined);
    await runner.release();
  }
}

export async function openDatabase(opts: { url?: string; dataDir: string; embeddedPort: number }): Promise<OpenedDatabase> {
  let embedded: EmbeddedPostgres | undefined;
  let url = opts.url;
  if (!url) {
    embedded = new EmbeddedPostgres({ dataDir: path.join(opts.dataDir, 'postgres'), port: opts.embeddedPort });
    const adminUrl = await embedded.start();
    url = await ensureDatabase(adminUrl, 'frs_meter');
  }
  const dataSource = createDataSource(url);
  try {
    await dataSource.initialize();
    await runMigrations(dataSource);
  } catch (err) {
    if (dataSource.isInitialized) await dataSource.destroy();
    await embedded?.stop();
    throw err;
  }
  return {
    dataSource,
    url,
    embedded,
    async close() {
      if (dataSource.isInitialized) await dataSource.destroy();
      await embedded?.stop();
    },
  };
}
