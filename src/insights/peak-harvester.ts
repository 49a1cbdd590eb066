// Every 20 s, copies the per-second peaks of the last completed seconds out of the QPS tracker
// (in memory, 64 s deep) into qps_second_peaks as a per-minute histogram. Off the hot path; a
// failed write keeps the histogram for the next round, a crash loses at most one round.

import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Clock } from '../common/clock';
import { DATA_SOURCE } from '../database/database';
import { BILLABLE_OPERATION_NAMES } from '../frs/operations';
import { QuotaService } from '../quota/quota.service';

const INTERVAL_MS = 20_000;
/** The tracker keeps 64 s; never read further back than this. */
const LOOKBACK_S = 55;

@Injectable()
export class PeakHarvester implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('PeakHarvester');
  private timer?: NodeJS.Timeout;
  private lastSecond = 0;
  /** `minute|operation|calls` → seconds, not yet written. */
  private pending = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    private readonly quota: QuotaService,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.harvest().catch((err: Error) => this.logger.warn(`per-second peaks not stored yet: ${err.message}`)), INTERVAL_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.harvest().catch(() => undefined);
  }

  /** Moves the completed seconds since the last round into the table. */
  async harvest(): Promise<void> {
    const nowS = Math.floor(this.clock.now() / 1000);
    const from = Math.max(this.lastSecond + 1, nowS - LOOKBACK_S);
    const to = nowS - 1;
    if (to >= from) {
      for (const op of BILLABLE_OPERATION_NAMES) {
        for (const [s, calls] of this.quota.secondPeaks(op, from, to)) {
          const key = `${(s - (s % 60)) * 1000}|${op}|${calls}`;
          this.pending.set(key, (this.pending.get(key) ?? 0) + 1);
        }
      }
      this.lastSecond = to;
    }
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const rows = [...batch].map(([k, seconds]) => {
      const [minute, operation, calls] = k.split('|');
      return { minute: new Date(Number(minute)), operation, calls: Number(calls), seconds };
    });
    try {
      await this.db.query(
        `INSERT INTO qps_second_peaks (minute, operation, calls, seconds)
         SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::int[], $4::int[])
         ON CONFLICT (minute, operation, calls) DO UPDATE SET seconds = qps_second_peaks.seconds + EXCLUDED.seconds`,
        [rows.map((r) => r.minute), rows.map((r) => r.operation), rows.map((r) => r.calls), rows.map((r) => r.seconds)],
      );
    } catch (err) {
      for (const [k, v] of batch) this.pending.set(k, (this.pending.get(k) ?? 0) + v);
      throw err;
    }
  }
}
