// Feeds the drawdown engine from the database. Chunks that lie well in the past (settled: no
// replica can still be flushing them) are cached, so the periodic package balances re-read only
// the recent tail. A chunk is usage of a time span, whatever the packages, so package changes
// leave the cache valid; it is dropped every hour and after a database outage, because a
// replica that could not write for longer than the settle time flushes late.

import { Injectable } from '@nestjs/common';
import { Clock } from '../common/clock';
import { Chunk, DrawdownEngine } from './engine';
import { UsageChunksRepository } from './usage-chunks.repository';

/** Usage older than this is assumed complete in the database (flushes run every second). */
export const SETTLE_MS = 5 * 60_000;
const CACHE_TTL_MS = 60 * 60_000;

@Injectable()
export class DrawdownRunner {
  private chunks = new Map<string, Chunk>();
  private details = new Map<string, Chunk[]>();
  private cacheStart = 0;

  constructor(
    private readonly repo: UsageChunksRepository,
    private readonly clock: Clock,
  ) {}

  invalidate(): void {
    this.chunks = new Map();
    this.details = new Map();
  }

  /** Runs the engine over every chunk of `bounds` (ascending instants) in time order. */
  async run(engine: DrawdownEngine, bounds: readonly number[]): Promise<void> {
    const now = this.clock.now();
    if (now - this.cacheStart > CACHE_TTL_MS || now < this.cacheStart) {
      this.invalidate();
      this.cacheStart = now;
    }
    const settled = now - SETTLE_MS;
    const chunks: (Chunk | undefined)[] = [];
    for (let i = 0; i + 1 < bounds.length; i++) chunks.push(this.chunks.get(key(bounds[i], bounds[i + 1])));
    // Read every run of chunks missing from the cache with one grouped scan.
    for (let i = 0; i < chunks.length; ) {
      if (chunks[i]) {
        i++;
        continue;
      }
      let j = i;
      while (j < chunks.length && !chunks[j]) j++;
      const read = await this.repo.chunks(bounds.slice(i, j + 1));
      read.forEach((c, k) => {
        chunks[i + k] = c;
        if (c.to <= settled) this.chunks.set(key(c.from, c.to), c);
      });
      i = j;
    }
    for (const c of chunks as Chunk[]) {
      if (c.rows.length === 0) continue;
      if (!engine.needsDetail(c)) {
        engine.apply(c);
        continue;
      }
      let minutes = this.details.get(key(c.from, c.to));
      if (!minutes) {
        minutes = await this.repo.minutes(c.from, c.to);
        if (c.to <= settled) this.details.set(key(c.from, c.to), minutes);
      }
      for (const m of minutes) engine.apply(m);
    }
  }
}

function key(from: number, to: number): string {
  return `${from}:${to}`;
}
