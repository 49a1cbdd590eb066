// Registered applications in Postgres. Deleting an app marks it deleted, so usage history
// keeps its name, and the name is never registered again. A change is announced on the
// `frs_meter_apps` channel (LISTEN/NOTIFY), so every replica re-reads its cache at once.

import { Inject, Injectable, Logger } from '@nestjs/common';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { DATA_SOURCE } from '../database/database';

const CHANNEL = 'frs_meter_apps';

/** A stop function for a listener. */
export type StopListening = () => Promise<void>;

export interface AppRow {
  readonly name: string;
  readonly api_key_hash: string;
  readonly api_key_hint: string;
  readonly access_key: string;
  readonly secret_key_enc: string;
  readonly created_at: Date;
}

@Injectable()
export class AppsRepository {
  constructor(@Inject(DATA_SOURCE) private readonly db: DataSource) {}

  async live(): Promise<AppRow[]> {
    return this.db.query(
      `SELECT name, api_key_hash, api_key_hint, access_key, secret_key_enc, created_at FROM apps WHERE deleted_at IS NULL ORDER BY name`,
    );
  }

  /**
   * Inserts the app; undefined when any app — live or deleted — ever had the name. Usage,
   * budgets and chargeback are keyed by the name, so a name is an app's id for all time: reusing
   * a deleted app's name would merge both apps' history (issue 10, finding 11).
   */
  async insert(row: Omit<AppRow, 'created_at'>): Promise<AppRow | undefined> {
    const rows = await this.db.query(
      `INSERT INTO apps (name, api_key_hash, api_key_hint, access_key, secret_key_enc)
       SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM apps WHERE name = $1)
       ON CONFLICT (name) WHERE deleted_at IS NULL DO NOTHING
       RETURNING name, api_key_hash, api_key_hint, access_key, secret_key_enc, created_at`,
      [row.name, row.api_key_hash, row.api_key_hint, row.access_key, row.secret_key_enc],
    );
    return rows[0];
  }

  /** Tells every replica (this one included) that the app table changed. */
  async announceChange(name: string): Promise<void> {
    await this.db.query(`SELECT pg_notify($1, $2)`, [CHANNEL, name]);
  }

  /**
   * Calls `onChange` for every change announced by any replica, on a connection of its own that
   * is re-opened when it drops (and `onChange` called then too, for what it may have missed).
   * Resolves once listening, or after the first failure (retried in the background).
   */
  async listen(onChange: () => void, logger: Logger): Promise<StopListening> {
    const url = (this.db.options as { url?: string }).url;
    let stopped = false;
    let client: Client | undefined;
    let retry: NodeJS.Timeout | undefined;
    const open = async (): Promise<void> => {
      const c = new Client({ connectionString: url, keepAlive: true, connectionTimeoutMillis: 3_000, application_name: 'frs-meter-listen' });
      const lost = () => {
        if (client !== c) return;
        client = undefined;
        c.end().catch(() => undefined);
        if (!stopped) retry = setTimeout(() => void open(), 1_000);
      };
      c.on('notification', () => onChange());
      c.on('error', lost);
      c.on('end', lost);
      client = c;
      try {
        await c.connect();
        await c.query(`LISTEN ${CHANNEL}`);
        onChange();
      } catch (err) {
        logger.warn(`app change listener unavailable, retrying (apps from other replicas are picked up by polling meanwhile): ${(err as Error).message}`);
        lost();
      }
    };
    await open();
    return async () => {
      stopped = true;
      if (retry) clearTimeout(retry);
      const c = client;
      client = undefined;
      await c?.end().catch(() => undefined);
    };
  }

  async markDeleted(name: string): Promise<boolean> {
    // TypeORM answers an UPDATE with [rows, affected].
    const [, affected] = await this.db.query(`UPDATE apps SET deleted_at = now() WHERE name = $1 AND deleted_at IS NULL`, [name]);
    return affected > 0;
  }
}
