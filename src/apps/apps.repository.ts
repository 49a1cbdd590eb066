// Registered applications in Postgres. Deleting an app marks it deleted, so usage history
// keeps its name and the name can be registered again.

import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DATA_SOURCE } from '../database/database';

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

  /** Inserts the app; false when a live app already has the name. */
  async insert(row: Omit<AppRow, 'created_at'>): Promise<AppRow | undefined> {
    const rows = await this.db.query(
      `INSERT INTO apps (name, api_key_hash, api_key_hint, access_key, secret_key_enc) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (name) WHERE deleted_at IS NULL DO NOTHING
       RETURNING name, api_key_hash, api_key_hint, access_key, secret_key_enc, created_at`,
      [row.name, row.api_key_hash, row.api_key_hint, row.access_key, row.secret_key_enc],
    );
    return rows[0];
  }

  async markDeleted(name: string): Promise<boolean> {
    // TypeORM answers an UPDATE with [rows, affected].
    const [, affected] = await this.db.query(`UPDATE apps SET deleted_at = now() WHERE name = $1 AND deleted_at IS NULL`, [name]);
    return affected > 0;
  }
}
