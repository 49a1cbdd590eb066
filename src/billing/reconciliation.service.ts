// GET /admin/reconciliation/{month}: flushes this replica's usage, reads the stored bill and the
// metered usage from one database snapshot, asks the drawdown engine where each call's cost fell,
// and hands everything to the pure reconcile().

import { Inject, Injectable } from '@nestjs/common';
import { CONFIG, Config, isBillable } from '../config/config';
import { OPERATIONS } from '../frs/operations';
import { DrawdownService } from '../drawdown/drawdown.service';
import { UsageService } from '../usage/usage.service';
import { BillingRepository } from './billing.repository';
import { ReconciliationReport, reconcile } from './reconciliation';
import { CostCenterRepository } from './cost-center.repository';
import { DailyReconciliation, DayStatus, reconcileDays } from './daily-reconciliation';
import { dayStarts, monthRange } from '../common/billing-month';
import { Clock } from '../common/clock';
import { localDate } from './cost-center-sync.service';

/** The month's report, each operation row with its stage, plus each day of the month (daily-reconciliation.ts). */
export type ReconciliationWithDays = Omit<ReconciliationReport, 'operations'> & {
  readonly operations: (ReconciliationReport['operations'][number] & { readonly status: DayStatus })[];
  readonly daily: DailyReconciliation;
};

const FREE_TIER_SCOPES = ['per_operation', 'per_sub_service', 'per_account'] as const;

@Injectable()
export class ReconciliationService {
  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly repo: BillingRepository,
    private readonly drawdown: DrawdownService,
    private readonly usage: UsageService,
    private readonly costCenter: CostCenterRepository,
    private readonly clock: Clock,
  ) {}

  /** `scopes: false` skips pricing the month under each free-tier scope (the gauges do not need it). */
  async report(month: string, opts: { scopes?: boolean } = {}): Promise<ReconciliationWithDays> {
    await this.usage.flush();
    const [inputs, state, costCenter, finalDaily] = await Promise.all([
      this.repo.reconciliationInputs(month),
      this.drawdown.state(month),
      this.costCenter.month(month),
      this.costCenter.finalDaily(month),
    ]);
    const operations = OPERATIONS.filter((o) => isBillable(this.config, o.name)).map((o) => o.name);
    // The month priced under each free-tier scope, so the report can say which one the bill matches.
    const scopeEstimates = new Map<string, Map<string, string | null>>();
    if (inputs.month && this.drawdown.priceTable && opts.scopes !== false) {
      for (const scope of FREE_TIER_SCOPES) {
        const s = scope === this.config.usage.freeTierScope ? state : await this.drawdown.stateUnderScope(month, scope);
        scopeEstimates.set(scope, new Map(this.drawdown.attributionOf(s).map((a) => [a.operation, a.estimated_cost])));
      }
    }
    const report = reconcile(inputs, this.drawdown.attributionOf(state), {
      month,
      operations,
      appCosts: this.drawdown.appCosts(state),
      usageUnits: this.config.billing.usageUnits,
      scopeEstimates,
      configuredScope: this.config.usage.freeTierScope,
      finalDay: this.config.billing.finalDay,
      finalHour: this.config.billing.finalHour,
    });
    const rowStatus: DayStatus = report.status === 'final' ? 'final' : report.status === 'provisional' ? 'provisional' : 'estimated';
    return { ...report, operations: report.operations.map((o) => ({ ...o, status: rowStatus })), daily: this.daily(month, state, costCenter, finalDaily) };
  }

  private daily(month: string, state: Awaited<ReturnType<DrawdownService['state']>>, costCenter: Awaited<ReturnType<CostCenterRepository['month']>>, finalDaily: Awaited<ReturnType<CostCenterRepository['finalDaily']>>): DailyReconciliation {
    const tz = this.config.usage.billingTimezone;
    const starts = dayStarts(month, tz);
    const end = monthRange(month, tz).end;
    const now = this.clock.now();
    const ends = new Map(starts.map((s, i) => [localDate(s, tz), starts[i + 1] ?? end]));
    return reconcileDays({
      days: starts.filter((s) => s <= now).map((s) => localDate(s, tz)),
      dayEnd: (day) => ends.get(day) ?? end,
      metered: this.drawdown.dailyOf(state),
      costCenter,
      finalDaily,
      lagMs: this.config.billing.costCenter.lagMinutes * 60_000,
    });
  }
}
