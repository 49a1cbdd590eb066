// The audit table (migration CreateAdminAudit): insert and filtered reads, nothing else.

import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DATA_SOURCE } from '../database/database';

export interface AuditRow {
  readonly id: string;
  readonly at: Date;
  readonly actor: string;
  readonly scope: string;
  readonly action: string;
  readonly target: string;
  readonly before: unknown;
  readonly after: unknown;
}

export interface AuditFilter {
  readonly sinceMs?: number;
  readonly untilMs?: number;
  readonly action?: string;
  readonly actor?: string;
  readonly target?: string;
  readonly limit: number;
}

/** Anything that runs SQL: the data source, or a query runner / entity manager inside a transaction. */
export interface Queryable {
  query(sql: string, params?: unknown[]): Promise<unknown>;
}

@Injectable()
export class AuditRepository {
  constructor(@Inject(DATA_SOURCE) private readonly db: DataSource) {}

  async insert(row: Omit<AuditRow, 'id'>, via: Queryable = this.db): Promise<void> {
    await via.query(`INSERT INTO admin_audit (at, actor, scope, action, target, before, after) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
      row.at,
      row.actor,
      row.scope,
      row.action,
      row.target,
      row.before === undefined || row.before === null ? null : JSON.stringify(row.before),
      row.after === undefined || row.after === null ? null : JSON.stringify(row.after),
    ]);
  }

  /** Newest first. */
  async list(f: AuditFilter): Promise<AuditRow[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, v: unknown) => {
      params.push(v);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (f.sinceMs !== undefined) add('at >= ?', new Date(f.sinceMs));
    if (f.untilMs !== undefined) add('at < ?', new Date(f.untilMs));
    if (f.action !== undefined) add('action = ?', f.action);
    if (f.actor !== undefined) add('actor = ?', f.actor);
    if (f.target !== undefined) add('target = ?', f.target);
    params.push(f.limit);
    return this.db.query(
      `SELECT id::text AS id, at, actor, scope, action, target, before, after FROM admin_audit
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY at DESC, id DESC LIMIT $${params.length}`,
      params,
    );
  }
}
