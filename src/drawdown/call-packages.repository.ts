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
}

@Injectable()
export class CallPackagesRepository {
  constructor(@Inject(DATA_SOURCE) private readonly db: DataSource) {}

  /** Inserts a package; false when the id is taken (nothing is written then). */
  async insert(p: CallPackageDef): Promise<boolean> {
    const rows = await this.db.query(
      `INSERT INTO call_packages (id, operations, total_calls, used_calls, starts_at, expires_at, registered_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING RETURNING id`,
      [p.id, p.operations, p.totalCalls, p.usedCalls, new Date(p.startsAt), new Date(p.expiresAt), new Date(p.registeredAt)],
    );
    return rows.length === 1;
  }

  async list(): Promise<CallPackageDef[]> {
    const rows: Row[] = await this.db.query(
      `SELECT id, operations, total_calls, used_calls, starts_at, expires_at, registered_at FROM call_packages ORDER BY expires_at, id`,
    );
    return rows.map((r) => ({
      id: r.id,
      operations: r.operations as OperationName[],
      totalCalls: Number(r.total_calls),
      usedCalls: Number(r.used_calls),
      startsAt: r.starts_at.getTime(),
      expiresAt: r.expires_at.getTime(),
      registeredAt: r.registered_at.getTime(),
    }));
  }
}
