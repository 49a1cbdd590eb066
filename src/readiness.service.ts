// Whether the database answers, as /readyz reports it: probed in the background every
// FRS_METER_READINESS_INTERVAL_MS, so /readyz answers from memory at once whatever the database
// does. A probe still unanswered after one interval (a partition: sockets open, nothing coming
// back) counts as unreachable without waiting for it to fail.

import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { CONFIG, Config } from './config/config';
import { UsageService } from './usage/usage.service';

export type DatabaseState = 'reachable' | 'unreachable';

@Injectable()
export class ReadinessService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Readiness');
  private readonly intervalMs: number;
  private last: DatabaseState = 'reachable';
  private probingSince?: number;
  private timer?: NodeJS.Timeout;

  constructor(
    @Inject(CONFIG) config: Config,
    private readonly usage: UsageService,
  ) {
    this.intervalMs = config.database.readinessIntervalMs;
  }

  onModuleInit(): void {
    // The service only starts once the database answered (migrations ran), so it starts reachable.
    this.timer = setInterval(() => this.probe(), this.intervalMs);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** The database as of the last probe, or unreachable when the current probe is overdue. */
  get database(): DatabaseState {
    if (this.probingSince !== undefined && performance.now() - this.probingSince > this.intervalMs) return 'unreachable';
    return this.last;
  }

  private probe(): void {
    // One probe at a time: an unanswered one is not joined by more (they would pile up on the pool).
    if (this.probingSince !== undefined) return;
    this.probingSince = performance.now();
    this.usage.ping().then(
      () => this.settle('reachable'),
      (err: Error) => this.settle('unreachable', err),
    );
  }

  private settle(state: DatabaseState, err?: Error): void {
    this.probingSince = undefined;
    if (state !== this.last) {
      if (err) this.logger.warn(`database unreachable (serving on, usage waits in memory): ${err.message}`);
      else this.logger.log('database reachable again');
    }
    this.last = state;
  }
}
