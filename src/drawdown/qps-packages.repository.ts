// QPS packages in Postgres. One current package per operation (replaced_at IS NULL); replaced
// and ended ones are kept for the cost attribution of the months they covered.

import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DATA_SOURCE } from '../database/database';
import { OperationName } from '../frs/operations';

export interface QpsPackage {
  readonly id: number;
  readonly operation: OperationName;
  readonly qps: number;
  readonly startsAt: number;
  readonly expiresAt: number;
  readonly createdAt: number;
  readonly replacedAt?: number;
}

interface Row {
  id: string;
  operation: string;
  qps: number;
  starts_at: Date;
  expires_at: Date;
  created_at: Date;
  replaced_at: Date | null;
}

const COLUMNS = 'id, operation, qps, starts_at, expires_at, created_at, replaced_at';

@Injectable()
export class QpsPackagesRepository {
  constructor(@Inject(DATA_SOURCE) private readonly db: DataSource) {}

  /** Packages not ended at `nowMs`: in force, scheduled, or expired but not replaced. */
  async current(nowMs: number): Promise<QpsPackage[]> {
    return (await this.db.query(`SELECT ${COLUMNS} FROM qps_packages WHERE replaced_at IS NULL OR replaced_at > $1 ORDER BY operation, starts_at`, [new Date(nowMs)])).map(toPackage);
  }

  /** Every package whose coverage may touch [from, to). */
  async overlapping(from: number, to: number): Promise<QpsPackage[]> {
    const rows = await this.db.query(
      `SELECT ${COLUMNS} FROM qps_packages
       WHERE starts_at < $2 AND expires_at > $1 AND (replaced_at IS NULL OR replaced_at > $1) ORDER BY id`,
      [new Date(from), new Date(to)],
    );
    return rows.map(toPackage);
  }

  /**
   * Registers a package and returns the one it replaces. Packages before it end when it starts
   * (now, or later for a renewal registered ahead: the current one stays in force until then);
   * their rows are kept, so which package covered which period stays known. The table lock
   * serialises concurrent PUTs from several replicas.
   */
  async replace(p: { operation: OperationName; qps: number; startsAt: number; expiresAt: number }, nowMs: number): Promise<{ created: QpsPackage; replaced?: QpsPackage }> {
    const cut = new Date(Math.max(nowMs, p.startsAt));
    return this.db.transaction(async (m) => {
      await m.query('LOCK TABLE qps_packages IN SHARE ROW EXCLUSIVE MODE');
      const old = updated(
        await m.query(`UPDATE qps_packages SET replaced_at = $2 WHERE operation = $1 AND (replaced_at IS NULL OR replaced_at > $2) RETURNING ${COLUMNS}`, [p.operation, cut]),
      ).sort((a, b) => b.starts_at.getTime() - a.starts_at.getTime());
      const created = await m.query(
        `INSERT INTO qps_packages (operation, qps, starts_at, expires_at, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING ${COLUMNS}`,
        [p.operation, p.qps, new Date(p.startsAt), new Date(p.expiresAt), new Date(nowMs)],
      );
      return { created: toPackage(created[0]), replaced: old[0] ? toPackage(old[0]) : undefined };
    });
  }

  /** Ends the operation's packages now, scheduled ones included (refunded or registered by mistake). */
  async end(operation: OperationName, nowMs: number): Promise<QpsPackage | undefined> {
    const rows = updated(
      await this.db.query(`UPDATE qps_packages SET replaced_at = $2 WHERE operation = $1 AND (replaced_at IS NULL OR replaced_at > $2) RETURNING ${COLUMNS}`, [operation, new Date(nowMs)]),
    ).sort((a, b) => b.starts_at.getTime() - a.starts_at.getTime());
    return rows[0] ? toPackage(rows[0]) : undefined;
  }
}

/** TypeORM answers UPDATE ... RETURNING with [rows, affected]. */
function updated(result: [Row[], number]): Row[] {
  return result[0];
}

function toPackage(r: Row): QpsPackage {
  return {
    id: Number(r.id),
    operation: r.operation as OperationName,
    qps: Number(r.qps),
    startsAt: r.starts_at.getTime(),
    expiresAt: r.expires_at.getTime(),
    createdAt: r.created_at.getTime(),
    replacedAt: r.replaced_at ? r.replaced_at.getTime() : undefined,
  };
}
