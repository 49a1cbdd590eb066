// Billing gauges, read from the database at scrape time (so every replica shows what the one
// that syncs stored): frs_billing_last_sync_timestamp_seconds{kind}, frs_billing_amount,
// frs_billing_month_final, frs_reconciliation_difference_calls and
// frs_reconciliation_unexplained_calls (from the reconciliation itself, so the alert sees what the
// report explains) for the last 13 bill cycles.
// Reads are cached briefly so frequent scrapes cost one query set per interval.

import { Inject, Injectable, Logger } from '@nestjs/common';
import { CONFIG, Config } from '../config/config';
import { Clock } from '../common/clock';
import { billingMonthOf, previousMonth } from '../common/billing-month';
import { MetricsService } from '../metrics/metrics.service';
import { BillingRepository, SYNC_KINDS } from './billing.repository';
import { ReconciliationService } from './reconciliation.service';

const CACHE_MS = 15_000;
/** Bill cycles on /metrics: the current one and the twelve before it (labels stay bounded). */
const MONTHS_EXPOSED = 13;

export const CHARGING_MODE_LABELS: Readonly<Record<number, string>> = { 1: 'yearly_monthly', 3: 'pay_per_use', 10: 'reserved_instance', 11: 'savings_plan' };

export function chargingModeLabel(mode: number | null): string {
  return mode === null ? 'unknown' : (CHARGING_MODE_LABELS[mode] ?? `mode_${mode}`);
}

@Injectable()
export class BillingMetrics {
  private readonly logger = new Logger('BillingMetrics');
  private readAt = 0;
  private failing = false;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly clock: Clock,
    private readonly metrics: MetricsService,
    private readonly repo: BillingRepository,
    private readonly reconciliation: ReconciliationService,
  ) {
    metrics.onCollect(() => this.collect());
  }

  /** Forces the next scrape to read the database again (after a sync). */
  invalidate(): void {
    this.readAt = 0;
  }

  private async collect(): Promise<void> {
    const now = Date.now();
    if (now - this.readAt < CACHE_MS) return;
    try {
      await this.refresh();
      this.readAt = now;
      this.failing = false;
    } catch (err) {
      // A scrape must not fail because the database is away; the gauges keep their last values.
      if (!this.failing) this.logger.warn(`billing gauges not refreshed: ${(err as Error).message}`);
      this.failing = true;
    }
  }

  private async refresh(): Promise<void> {
    const m = this.metrics;
    let from = billingMonthOf(this.clock.now(), this.config.usage.billingTimezone);
    for (let i = 1; i < MONTHS_EXPOSED; i++) from = previousMonth(from);
    const [state, snap] = await Promise.all([this.repo.syncState(), this.repo.metricsSnapshot(from)]);

    const costCenter = this.config.billing.costCenter.enabled ? (['cost_center'] as const) : [];
    for (const kind of [...SYNC_KINDS, ...costCenter]) {
      const s = state.find((x) => x.kind === kind);
      // Never synced reads as 0 (the stale-sync alert fires), unless the schedule is off on purpose.
      if (s?.last_success_at) m.billingLastSync.set({ kind }, new Date(s.last_success_at).getTime() / 1000);
      else if (this.config.billing.syncEnabled) m.billingLastSync.set({ kind }, 0);
    }
    m.billingAmount.reset();
    for (const a of snap.amounts) m.billingAmount.set({ bill_cycle: a.bill_cycle, charging_mode: chargingModeLabel(a.charging_mode) }, Number(a.amount));
    m.billingMonthFinal.reset();
    for (const mo of snap.months) m.billingMonthFinal.set({ bill_cycle: mo.bill_cycle }, mo.status === 'final' ? 1 : 0);
    m.reconciliationDifference.reset();
    for (const d of snap.differences) m.reconciliationDifference.set({ bill_cycle: d.bill_cycle, operation: d.operation }, Number(d.metered) - Number(d.billed));
    const unexplained: { bill_cycle: string; operation: string; calls: number }[] = [];
    for (const mo of snap.months) {
      const r = await this.reconciliation.report(mo.bill_cycle, { scopes: false });
      for (const l of r.operations) if (l.unexplained_calls !== null && l.operation !== 'unmapped') unexplained.push({ bill_cycle: mo.bill_cycle, operation: l.operation, calls: l.unexplained_calls });
    }
    m.reconciliationUnexplained.reset();
    for (const u of unexplained) m.reconciliationUnexplained.set({ bill_cycle: u.bill_cycle, operation: u.operation }, u.calls);
  }
}
