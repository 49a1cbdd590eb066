// Call packages (prepaid call counts) in Postgres. Only what was registered is stored; what is
// left is computed from metered usage, so it is exact across restarts and replicas.

import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DATA_SOURCE } from '../database/database';
import { OperationName } from '../frs/operations';
import { CallPackageDef } from './engine';

interface Row {
  id: string;
  operations: string[];
  total_calls: string;
  used_calls: string;
  starts_at: Date;
  expires_at: Date;
  registered_at: Date;
  used_as_of: Date;
}

const COLUMNS = 'id, operations, total_calls, used_calls, starts_at, expires_at, registered_at, used_as_of';

function toDef(r: Row): CallPackageDef {
  return {
    id: r.id,
    operations: r.operations as OperationName[],
    totalCalls: Number(r.total_calls),
    usedCalls: Number(r.used_calls),
    startsAt: r.starts_at.getTime(),
    expiresAt: r.expires_at.getTime(),
    registeredAt: r.registered_at.getTime(),
    usedAsOf: r.used_as_of.getTime(),
  };
}

@Injectable()
export class CallPackagesRepository {
  constructor(@Inject(DATA_SOURCE) private readonly db: DataSource) {}

  /** Inserts a package; false when the id is taken (nothing is written then). */
  async insert(p: CallPackageDef): Promise<boolean> {
    const rows = await this.db.query(
      `INSERT INTO call_packages (id, operations, total_calls, used_calls, starts_at, expires_at, registered_at, used_as_of)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING RETURNING id`,
      [p.id, p.operations, p.totalCalls, p.usedCalls, new Date(p.startsAt), new Date(p.expiresAt), new Date(p.registeredAt), new Date(p.usedAsOf ?? p.registeredAt)],
    );
    return rows.length === 1;
  }

  /** Corrects a package in place (its registration time stays); undefined when there is none. */
  async update(p: CallPackageDef): Promise<CallPackageDef | undefined> {
    const [rows] = (await this.db.query(
      `UPDATE call_packages SET operations = $2, total_calls = $3, used_calls = $4, starts_at = $5, expires_at = $6, used_as_of = $7
       WHERE id = $1 RETURNING ${COLUMNS}`,
      [p.id, p.operations, p.totalCalls, p.usedCalls, new Date(p.startsAt), new Date(p.expiresAt), new Date(p.usedAsOf ?? p.registeredAt)],
    )) as [Row[], number];
    return rows[0] ? toDef(rows[0]) : undefined;
  }

  async get(id: string): Promise<CallPackageDef | undefined> {
    const rows: Row[] = await this.db.query(`SELECT ${COLUMNS} FROM call_packages WHERE id = $1`, [id]);
    return rows[0] ? toDef(rows[0]) : undefined;
  }

  /** Removes a package (registered by mistake, refunded); returns what was removed. */
  async remove(id: string): Promise<CallPackageDef | undefined> {
    const [rows] = (await this.db.query(`DELETE FROM call_packages WHERE id = $1 RETURNING ${COLUMNS}`, [id])) as [Row[], number];
    return rows[0] ? toDef(rows[0]) : undefined;
  }

  async list(): Promise<CallPackageDef[]> {
    const rows: Row[] = await this.db.query(`SELECT ${COLUMNS} FROM call_packages ORDER BY expires_at, id`);
    return rows.map(toDef);
  }
}
