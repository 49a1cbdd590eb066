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

/** How long database access may wait; every request and probe is bounded by these. */
export interface DatabaseTimeouts {
  /** Waiting for a pooled connection, or for a new one to open. */
  readonly connectTimeoutMs: number;
  /** statement_timeout on the server; the client waits a second longer for any answer. */
  readonly statementTimeoutMs: number;
}

export const DEFAULT_DATABASE_TIMEOUTS: DatabaseTimeouts = { connectTimeoutMs: 3_000, statementTimeoutMs: 30_000 };

export function createDataSource(url: string, timeouts: DatabaseTimeouts = DEFAULT_DATABASE_TIMEOUTS): DataSource {
  return new DataSource({
    type: 'postgres',
    url,
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    synchronize: false,
    logging: false,
    extra: {
      max: 10,
      connectionTimeoutMillis: timeouts.connectTimeoutMs,
      // statement_timeout stops a slow query on the server; query_timeout stops waiting when the
      // server cannot even say so (a partition: the socket open, nothing coming back).
      statement_timeout: timeouts.statementTimeoutMs,
      query_timeout: timeouts.statementTimeoutMs + 1_000,
      keepAlive: true,
      application_name: 'frs-meter',
    },
  });
}

interface PgClientLike {
  query: (...args: unknown[]) => unknown;
  connection?: { stream?: { destroy(): void } };
}

/**
 * A query that hit query_timeout leaves its connection waiting for an answer that may never
 * come, and TypeORM hands such a connection back to the pool as if it were fine; every later
 * query on it would time out too. Closing its socket makes the pool drop it and open a new one.
 */
function discardTimedOutConnections(dataSource: DataSource): void {
  const pool = (dataSource.driver as unknown as { master?: { on(event: 'acquire', fn: (client: PgClientLike) => void): void } }).master;
  const wrapped = new WeakSet<PgClientLike>();
  // On checkout rather than on connect: the pool's first connection opened inside initialize().
  pool?.on('acquire', (client) => {
    if (wrapped.has(client)) return;
    wrapped.add(client);
    const query = client.query.bind(client);
    const check = (err: unknown) => {
      if (err instanceof Error && err.message === 'Query read timeout') client.connection?.stream?.destroy();
    };
    client.query = (...args: unknown[]) => {
      const i = args.findIndex((a) => typeof a === 'function');
      if (i >= 0) {
        const callback = args[i] as (err: unknown, res: unknown) => void;
        args[i] = (err: unknown, res: unknown) => {
          check(err);
          callback(err, res);
        };
        return query(...args);
      }
      const result = query(...args);
      if (result instanceof Promise) result.catch(check);
      return result;
    };
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

export async function openDatabase(opts: { url?: string; dataDir: string; embeddedPort: number } & Partial<DatabaseTimeouts>): Promise<OpenedDatabase> {
  let embedded: EmbeddedPostgres | undefined;
  let url = opts.url;
  if (!url) {
    embedded = new EmbeddedPostgres({ dataDir: path.join(opts.dataDir, 'postgres'), port: opts.embeddedPort });
    const adminUrl = await embedded.start();
    url = await ensureDatabase(adminUrl, 'frs_meter');
  }
  const dataSource = createDataSource(url, {
    connectTimeoutMs: opts.connectTimeoutMs ?? DEFAULT_DATABASE_TIMEOUTS.connectTimeoutMs,
    statementTimeoutMs: opts.statementTimeoutMs ?? DEFAULT_DATABASE_TIMEOUTS.statementTimeoutMs,
  });
  try {
    await dataSource.initialize();
    discardTimedOutConnections(dataSource);
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
