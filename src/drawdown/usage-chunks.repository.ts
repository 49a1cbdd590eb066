// Reads metered billable calls back from usage_counts for the drawdown engine: per chunk of
// time (one grouped scan over many chunks) or minute by minute inside one chunk.

import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DATA_SOURCE } from '../database/database';
import { OperationName } from '../frs/operations';
import { Chunk, ChunkRow, compareRows } from './engine';

@Injectable()
export class UsageChunksRepository {
  constructor(@Inject(DATA_SOURCE) private readonly db: DataSource) {}

  /** One chunk per [bounds[i], bounds[i + 1]), with the billable calls whose minute falls in it. */
  async chunks(bounds: readonly number[]): Promise<Chunk[]> {
    if (bounds.length < 2) return [];
    const rows: { b: number; operation: string; app: string; n: string; overflow: string; possibly: string }[] = await this.db.query(
      `SELECT width_bucket(minute, $1::timestamptz[]) AS b, operation, app, SUM(billable)::bigint AS n, SUM(qps_overflow)::bigint AS overflow, SUM(possibly_billed)::bigint AS possibly
       FROM usage_counts
       WHERE kind = 'attempt' AND (billable > 0 OR possibly_billed > 0) AND minute >= $2 AND minute < $3
       GROUP BY 1, 2, 3`,
      [bounds.map((t) => new Date(t).toISOString()), new Date(bounds[0]), new Date(bounds[bounds.length - 1])],
    );
    const byChunk: ChunkRow[][] = bounds.slice(1).map(() => []);
    for (const r of rows) byChunk[r.b - 1].push(row(r));
    return byChunk.map((list, i) => ({ from: bounds[i], to: bounds[i + 1], rows: list.sort(compareRows) }));
  }

  /** The calls of [from, to) minute by minute (only minutes with calls). */
  async minutes(from: number, to: number): Promise<Chunk[]> {
    const rows: { minute: Date; operation: string; app: string; n: string; overflow: string; possibly: string }[] = await this.db.query(
      `SELECT minute, operation, app, SUM(billable)::bigint AS n, SUM(qps_overflow)::bigint AS overflow, SUM(possibly_billed)::bigint AS possibly
       FROM usage_counts
       WHERE kind = 'attempt' AND (billable > 0 OR possibly_billed > 0) AND minute >= $1 AND minute < $2
       GROUP BY 1, 2, 3 ORDER BY 1`,
      [new Date(from), new Date(to)],
    );
    const out: { from: number; to: number; rows: ChunkRow[] }[] = [];
    let current: { from: number; to: number; rows: ChunkRow[] } | undefined;
    for (const r of rows) {
      const m = r.minute.getTime();
      if (!current || current.from !== m) out.push((current = { from: m, to: m + 60_000, rows: [] }));
      current.rows.push(row(r));
    }
    for (const c of out) c.rows.sort(compareRows);
    return out;
  }
}

function row(r: { operation: string; app: string; n: string; overflow: string; possibly: string }): ChunkRow {
  return { operation: r.operation as OperationName, app: r.app, n: Number(r.n), overflow: Number(r.overflow), possibly: Number(r.possibly) };
}
