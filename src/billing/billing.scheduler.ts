// The billing schedule: every FRS_METER_BILLING_CHECK_INTERVAL_SECONDS one replica (the one that
// gets the advisory lock) asks dueSyncs() which months to pull and pulls them, then refreshes
// the resource packages if the last pull is older than an hour. A failed pull is logged and
// retried with exponential backoff on later checks; it never touches the proxy.
// FRS_METER_BILLING_SYNC=off turns the schedule off (POST /admin/billing/sync still works).

import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit, Optional } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { DataSource } from 'typeorm';
import { CONFIG, Config } from '../config/config';
import { Clock } from '../common/clock';
import { DATA_SOURCE, LOCKS } from '../database/database';
import { BillingRepository } from './billing.repository';
import { BillingSyncService, syncPolicy } from './billing-sync.service';
import { PlannedSync, dueSyncs, monthStatusAt } from './sync-plan';
import { CostCenterSyncService } from './cost-center-sync.service';
import { billingMonthOf, previousMonth } from '../common/billing-month';

/** Package balances move with every call; BSS updates them with a lag of an hour or more (billing-api.md §6.7). */
export const PACKAGE_REFRESH_MS = 3600_000;
const RETRY_BASE_MS = 60_000;
const RETRY_MAX_MS = 6 * 3600_000;
const FIRST_CHECK_DELAY_MS = 10_000;

export interface CheckResult {
  /** false when another replica holds the lock (or a check is already running here). */
  readonly ran: boolean;
  readonly synced: string[];
  readonly failed: { month: string; error: string }[];
  readonly skipped: string[];
  readonly packages?: 'synced' | 'failed' | 'skipped';
  /** Months whose Cost Center daily costs were pulled this check. */
  readonly costCenter?: string[];
}

@Injectable()
export class BillingScheduler implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('BillingScheduler');
  private running = false;
  private stopped = false;
  /** Job-level backoff after failures: key (month or 'packages') → count and earliest next try. */
  private readonly failures = new Map<string, { count: number; nextAt: number }>();
  private lastPackagesAt = 0;
  private lastCostCenterAt = 0;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly clock: Clock,
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    private readonly repo: BillingRepository,
    private readonly sync: BillingSyncService,
    private readonly registry: SchedulerRegistry,
    @Optional() private readonly costCenter?: CostCenterSyncService,
  ) {}

  onModuleInit(): void {
    if (!this.config.billing.syncEnabled) {
      this.logger.log('billing sync schedule is off (FRS_METER_BILLING_SYNC=off)');
      return;
    }
    const tick = () => void this.check().catch((err: unknown) => this.logger.error(`billing check failed: ${(err as Error).message}`));
    const interval = setInterval(tick, this.config.billing.checkIntervalSeconds * 1000);
    interval.unref();
    this.registry.addInterval('billing-sync', interval);
    const first = setTimeout(tick, FIRST_CHECK_DELAY_MS);
    first.unref();
    this.registry.addTimeout('billing-sync-first', first);
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    if (this.registry.doesExist('interval', 'billing-sync')) this.registry.deleteInterval('billing-sync');
    if (this.registry.doesExist('timeout', 'billing-sync-first')) this.registry.deleteTimeout('billing-sync-first');
  }

  /** One scheduled check; public so tests and operators can run it on demand. */
  async check(): Promise<CheckResult> {
    const none: CheckResult = { ran: false, synced: [], failed: [], skipped: [] };
    if (this.running || this.stopped) return none;
    this.running = true;
    const runner = this.db.createQueryRunner();
    try {
      await runner.connect();
      const [{ locked }] = (await runner.query('SELECT pg_try_advisory_lock($1) AS locked', [LOCKS.billingSync])) as { locked: boolean }[];
      if (!locked) return none;
      try {
        return await this.runDue();
      } finally {
        await runner.query('SELECT pg_advisory_unlock($1)', [LOCKS.billingSync]).catch(() => undefined);
      }
    } finally {
      await runner.release();
      this.running = false;
    }
  }

  private async runDue(): Promise<CheckResult> {
    const now = this.clock.now();
    const due: PlannedSync[] = dueSyncs(now, syncPolicy(this.config), await this.repo.storedMonths());
    const synced: string[] = [];
    const failed: { month: string; error: string }[] = [];
    const skipped: string[] = [];
    for (const plan of due) {
      if (this.stopped) break;
      if (!this.mayTry(plan.month, now)) {
        skipped.push(plan.month);
        continue;
      }
      try {
        const r = await this.sync.syncMonth(plan.month);
        this.failures.delete(plan.month);
        synced.push(`${r.bill_cycle}:${r.status}`);
      } catch (err) {
        const next = this.failed(plan.month);
        failed.push({ month: plan.month, error: (err as Error).message });
        this.logger.error(`billing sync of ${plan.month} (${plan.reason}) failed; next try after ${new Date(next).toISOString()}: ${(err as Error).message}`);
      }
    }
    let packages: CheckResult['packages'] = 'skipped';
    if (!this.stopped && now - this.lastPackagesAt >= PACKAGE_REFRESH_MS && this.mayTry('packages', now)) {
      try {
        await this.sync.syncPackages();
        this.lastPackagesAt = now;
        this.failures.delete('packages');
        packages = 'synced';
      } catch (err) {
        const next = this.failed('packages');
        packages = 'failed';
        this.logger.error(`resource package sync failed; next try after ${new Date(next).toISOString()}: ${(err as Error).message}`);
      }
    }
    const costCenter = await this.runCostCenter(now);
    return { ran: true, synced, failed, skipped, packages, costCenter };
  }

  /**
   * Cost Center's daily costs, every FRS_METER_COST_CENTER_REFRESH_MINUTES: the current month,
   * and the previous one until its bill is final (its last day needs a pull after it ended).
   */
  private async runCostCenter(now: number): Promise<string[]> {
    const cc = this.config.billing.costCenter;
    if (!this.costCenter || !cc.enabled || this.stopped || now - this.lastCostCenterAt < cc.refreshMinutes * 60_000) return [];
    const current = billingMonthOf(now, this.config.usage.billingTimezone);
    const previous = previousMonth(current);
    const months = monthStatusAt(previous, now, syncPolicy(this.config)) === 'provisional' ? [previous, current] : [current];
    const done: string[] = [];
    for (const m of months) {
      const key = `cost_center:${m}`;
      if (!this.mayTry(key, now)) continue;
      try {
        await this.costCenter.syncMonth(m);
        this.failures.delete(key);
        done.push(m);
      } catch (err) {
        const next = this.failed(key);
        this.logger.error(`Cost Center sync of ${m} failed; next try after ${new Date(next).toISOString()}: ${(err as Error).message}`);
      }
    }
    if (done.length === months.length) this.lastCostCenterAt = now;
    return done;
  }

  private mayTry(key: string, now: number): boolean {
    const f = this.failures.get(key);
    return !f || now >= f.nextAt;
  }

  private failed(key: string): number {
    const count = (this.failures.get(key)?.count ?? 0) + 1;
    const delay = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (count - 1));
    const nextAt = this.clock.now() + delay;
    this.failures.set(key, { count, nextAt });
    return nextAt;
  }
}
