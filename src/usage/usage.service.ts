// Owns the usage buffer and its flush loop. Every FRS_METER_FLUSH_INTERVAL_MS the buffer is
// taken and written in one transaction; a batch that fails waits in memory with its flush id and
// is retried as it was, so an unknown outcome (connection lost after COMMIT) never counts twice.
// A graceful stop flushes everything; a crash loses at most one interval.

import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { hostname } from 'node:os';
import { CONFIG, Config } from '../config/config';
import { Clock } from '../common/clock';
import { billingMonthOf, monthRange } from '../common/billing-month';
import { MetricsService } from '../metrics/metrics.service';
import { OPERATIONS } from '../frs/operations';
import { batchBillable, UsageBatch, UsageBuffer } from './usage.buffer';
import { UsageRepository } from './usage.repository';
import { DrawdownService } from '../drawdown/drawdown.service';

@Injectable()
export class UsageService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Usage');
  readonly buffer: UsageBuffer;
  readonly replica = `${hostname()}:${process.pid}`;
  /** Batches taken but not yet confirmed in the database, oldest first. */
  private readonly pending: UsageBatch[] = [];
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;
  private followUp?: Promise<void>;
  private dbMonth = '';
  private dbMonthBillable = new Map<string, number>();
  private lastFlushOk = true;
  private lastFlushAt = 0;
  private lastPruneAt = 0;
  private stopped = false;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly clock: Clock,
    private readonly repo: UsageRepository,
    private readonly metrics: MetricsService,
    private readonly drawdown: DrawdownService,
  ) {
    this.buffer = new UsageBuffer(config.usage.billingTimezone);
    drawdown.useUsage(() => this.flush(), () => this.healthy);
    metrics.onCollect(() => this.collect());
  }

  async onModuleInit(): Promise<void> {
    await this.refreshMonth().catch((err) => this.logger.warn(`could not read month totals: ${String(err)}`));
    this.timer = setInterval(() => void this.flush(), this.config.usage.flushIntervalMs);
    this.timer.unref();
  }

  /** Final flush on SIGTERM: retries until it lands or the grace period is over. */
  async onApplicationShutdown(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    const deadline = Date.now() + this.config.server.shutdownGraceMs;
    for (;;) {
      await this.flush();
      if (this.pendingEvents === 0) return;
      if (Date.now() > deadline) {
        this.logger.error(`stopping with ${this.pendingEvents} usage events not written: the database stayed unreachable`);
        return;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** A cheap round trip, for readiness. */
  async ping(): Promise<void> {
    await this.repo.ping();
  }

  get healthy(): boolean {
    return this.lastFlushOk;
  }

  get pendingEvents(): number {
    return this.buffer.events + this.pending.reduce((n, b) => n + b.events, 0);
  }

  get lastFlushTimestamp(): number {
    return this.lastFlushAt;
  }

  /**
   * Writes everything recorded so far. A flush already running took the buffer before the
   * caller's latest events, so a caller that comes during one gets one more flush after it;
   * every caller meanwhile shares that follow-up.
   */
  flush(): Promise<void> {
    if (this.flushing) {
      this.followUp ??= this.flushing.then(() => {
        this.followUp = undefined;
        return this.flush();
      });
      return this.followUp;
    }
    this.flushing = this.doFlush().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async doFlush(): Promise<void> {
    const taken = this.buffer.take();
    if (taken) this.pending.push(taken);
    const month = billingMonthOf(this.clock.now(), this.config.usage.billingTimezone);
    try {
      if (this.pending.length === 0) {
        await this.refreshMonth();
      }
      while (this.pending.length > 0) {
        const batch = this.pending[0];
        const result = await this.repo.applyFlush(batch, this.replica, month);
        if (!result.applied) this.logger.warn(`flush ${batch.flushId} had already been applied; not counted again`);
        this.pending.shift();
        this.dbMonth = month;
        this.dbMonthBillable = result.monthBillable;
      }
      if (!this.lastFlushOk) this.logger.log('database reachable again; usage flushed');
      this.lastFlushOk = true;
      this.lastFlushAt = this.clock.now();
      await this.prune();
    } catch (err) {
      if (this.lastFlushOk) this.logger.error(`usage flush failed, keeping ${this.pendingEvents} events in memory: ${(err as Error).message}`);
      this.lastFlushOk = false;
    }
  }

  /**
   * Once an hour, forget flush ids past the retention horizon (~86k a day per replica otherwise).
   * Only batches this replica still holds could be retried, and they are held for as long as the
   * database is away; a batch older than the horizon is not pruned while it is pending.
   */
  private async prune(): Promise<void> {
    const now = this.clock.now();
    if (now - this.lastPruneAt < 3_600_000) return;
    this.lastPruneAt = now;
    const horizon = now - (this.config.usage.flushIdRetentionMs ?? 7 * 86_400_000);
    await this.repo.pruneFlushes(horizon).catch((err) => this.logger.warn(`could not prune old flush ids: ${(err as Error).message}`));
  }

  private async refreshMonth(): Promise<void> {
    const month = billingMonthOf(this.clock.now(), this.config.usage.billingTimezone);
    this.dbMonthBillable = await this.repo.monthBillable(month);
    this.dbMonth = month;
  }

  /** This month's billable calls per operation: database plus what is not yet flushed. */
  monthBillable(): Map<string, number> {
    const month = billingMonthOf(this.clock.now(), this.config.usage.billingTimezone);
    const totals = new Map(month === this.dbMonth ? this.dbMonthBillable : []);
    for (const b of this.pending) batchBillable(b, month, totals);
    this.buffer.billableByOperation(month, totals);
    return totals;
  }

  private async collect(): Promise<void> {
    const m = this.metrics;
    const totals = this.monthBillable();
    for (const op of OPERATIONS) {
      if (op.billable) m.monthBillableCalls.set({ operation: op.name }, totals.get(op.name) ?? 0);
    }
    // Free calls left as the drawdown engine spent them (after QPS and call packages, possibly-billed
    // calls counted as used); a scrape while the database is away keeps the last values.
    const state = await this.drawdown.recent().catch(() => this.drawdown.lastState());
    if (state) {
      for (const f of this.drawdown.freeCallsOf(state)) {
        m.freeCallsRemaining.set({ operation: f.operation }, f.left);
        m.freeCallsTotal.set({ operation: f.operation }, f.allowance);
      }
    }
    const month = billingMonthOf(this.clock.now(), this.config.usage.billingTimezone);
    m.monthEnd.set(monthRange(month, this.config.usage.billingTimezone).end / 1000);
    m.usagePendingEvents.set(this.pendingEvents);
    if (this.lastFlushAt > 0) m.usageLastFlush.set(this.lastFlushAt / 1000);
  }
}
