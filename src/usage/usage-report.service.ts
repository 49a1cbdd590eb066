// GET /admin/usage: a billing month per operation and per app. Requests (what clients sent),
// upstream attempts (what FRS saw, retries included) and billable calls (what FRS charges) sit
// side by side, so retries never hide cost; the cost attribution says which of those calls
// packages and free calls paid for and estimates the rest.

import { Inject, Injectable } from '@nestjs/common';
import Decimal from 'decimal.js';
import { CONFIG, Config, isBillable } from '../config/config';
import { Clock } from '../common/clock';
import { billingMonthOf, MONTH_RE } from '../common/billing-month';
import { OPERATIONS, OperationName } from '../frs/operations';
import { badRequest } from '../admin/meter-error';
import { DrawdownService, FreeCalls, OperationAttribution } from '../drawdown/drawdown.service';
import { UsageService } from './usage.service';
import { UsageReportRepository } from './usage-report.repository';

export interface OperationUsage {
  operation: string;
  billable: boolean;
  requests: number;
  upstream_attempts: number;
  /** Upstream attempts answered 2xx. */
  successes: number;
  billable_calls: number;
  /**
   * Account-wide for the month whatever the app filter, as the drawdown engine spent them (after
   * QPS and call packages; possibly-billed attempts counted as used). Under a shared scope
   * (per_sub_service, per_account) `used` is the whole scope's.
   */
  free_calls_used: number;
  free_calls_left: number;
  /** Attempts cut at the proxy's timeout, or with the connection lost, after the request was sent: FRS may have billed them. */
  possibly_billed: number;
  /** Error codes of the answers clients got (FRS.xxxx passed through, METER.xxxx our own). */
  errors: Record<string, number>;
  /** Error codes of upstream attempts, retried ones included. */
  upstream_errors: Record<string, number>;
  attribution: Omit<OperationAttribution, 'operation' | 'valid_calls' | 'possibly_billed'> | null;
}

export interface AppUsage {
  app: string;
  requests: number;
  upstream_attempts: number;
  billable_calls: number;
  /** Estimated pay-per-use cost of the app's valid calls (the drawdown engine's; the reconciliation's share uses the same). */
  estimated_cost: string | null;
  operations: Record<string, { requests: number; upstream_attempts: number; billable_calls: number; estimated_cost: string | null }>;
}

export interface UsageReport {
  month: string;
  app: string | null;
  billing_timezone: string;
  /** The month is still running: numbers grow. */
  month_in_progress: boolean;
  generated_at: string;
  drawdown_order: readonly string[];
  free_tier: { scope: string; calls: number; excluded: readonly string[] };
  /** Possibly-billed attempts are counted as used in free calls left and package balances. */
  conservative: true;
  totals: { requests: number; upstream_attempts: number; successes: number; billable_calls: number; pay_per_use: number; estimated_cost: string | null; currency: string | null };
  operations: OperationUsage[];
  apps: AppUsage[];
}

const NO_ERROR = new Set(['none', '']);

@Injectable()
export class UsageReportService {
  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly clock: Clock,
    private readonly usage: UsageService,
    private readonly repo: UsageReportRepository,
    private readonly drawdown: DrawdownService,
  ) {}

  async report(month: string, app?: string): Promise<UsageReport> {
    if (!MONTH_RE.test(month)) throw badRequest(`month must be YYYY-MM, got ${JSON.stringify(month)}`);
    // This replica's last second of calls belongs in the report too.
    await this.usage.flush();
    const [rows, apps, state] = await Promise.all([this.repo.operationTotals(month, app), this.repo.appTotals(month, app), this.drawdown.state(month)]);
    const attribution = this.drawdown.attributionOf(state, app);
    // Free calls of that month: left now for the running month, what was left at its end for a past one.
    const free = new Map<string, FreeCalls>(this.drawdown.freeCallsOf(state).map((f) => [f.operation, f]));
    const costs = this.drawdown.appCosts(state);
    const attributionByOp = new Map(attribution.map((a) => [a.operation, a]));

    const byOp = new Map<string, OperationUsage>();
    const entry = (operation: string): OperationUsage => {
      let e = byOp.get(operation);
      if (!e) {
        const known = OPERATIONS.some((o) => o.name === operation);
        const billable = known && isBillable(this.config, operation as OperationName);
        const f = free.get(operation);
        const a = attributionByOp.get(operation as OperationName);
        e = {
          operation,
          billable,
          requests: 0,
          upstream_attempts: 0,
          successes: 0,
          billable_calls: 0,
          free_calls_used: f?.used ?? 0,
          free_calls_left: f?.left ?? 0,
          possibly_billed: 0,
          errors: {},
          upstream_errors: {},
          attribution: a
            ? { qps_package: a.qps_package, call_package: a.call_package, free_tier: a.free_tier, pay_per_use: a.pay_per_use, qps_overflow: a.qps_overflow, estimated_cost: a.estimated_cost, currency: a.currency }
            : null,
        };
        byOp.set(operation, e);
      }
      return e;
    };
    for (const o of OPERATIONS) if (isBillable(this.config, o.name)) entry(o.name);
    for (const r of rows) {
      const e = entry(r.operation);
      if (r.kind === 'request') {
        e.requests += r.count;
        if (!NO_ERROR.has(r.errorCode)) e.errors[r.errorCode] = (e.errors[r.errorCode] ?? 0) + r.count;
      } else {
        e.upstream_attempts += r.count;
        if (r.outcome === 'success') e.successes += r.count;
        e.billable_calls += r.billable;
        e.possibly_billed += r.possiblyBilled;
        if (!NO_ERROR.has(r.errorCode)) e.upstream_errors[r.errorCode] = (e.upstream_errors[r.errorCode] ?? 0) + r.count;
      }
    }
    const order = new Map<string, number>(OPERATIONS.map((o, i) => [o.name, i]));
    const operations = [...byOp.values()].sort((a, b) => (order.get(a.operation) ?? 99) - (order.get(b.operation) ?? 99) || a.operation.localeCompare(b.operation));
    for (const e of operations) {
      e.errors = sortedCounts(e.errors);
      e.upstream_errors = sortedCounts(e.upstream_errors);
    }

    const appMap = new Map<string, AppUsage>();
    for (const r of apps) {
      let a = appMap.get(r.app);
      if (!a) appMap.set(r.app, (a = { app: r.app, requests: 0, upstream_attempts: 0, billable_calls: 0, estimated_cost: null, operations: {} }));
      a.requests += r.requests;
      a.upstream_attempts += r.attempts;
      a.billable_calls += r.billable;
      const cost = costs.get(r.app)?.get(r.operation as OperationName);
      a.operations[r.operation] = { requests: r.requests, upstream_attempts: r.attempts, billable_calls: r.billable, estimated_cost: cost ? cost.toFixed() : null };
      if (cost) a.estimated_cost = new Decimal(a.estimated_cost ?? 0).plus(cost).toFixed();
    }

    const priced = attribution.filter((a) => a.estimated_cost !== null);
    const sum = (f: (e: OperationUsage) => number) => operations.reduce((n, e) => n + f(e), 0);
    const now = this.clock.now();
    return {
      month,
      app: app ?? null,
      billing_timezone: this.config.usage.billingTimezone,
      month_in_progress: billingMonthOf(now, this.config.usage.billingTimezone) === month,
      generated_at: new Date(now).toISOString(),
      drawdown_order: this.config.usage.drawdownOrder,
      free_tier: { scope: this.config.usage.freeTierScope, calls: this.config.usage.freeTierCalls, excluded: this.config.usage.freeTierExcluded },
      conservative: true,
      totals: {
        requests: sum((e) => e.requests),
        upstream_attempts: sum((e) => e.upstream_attempts),
        successes: sum((e) => e.successes),
        billable_calls: sum((e) => e.billable_calls),
        pay_per_use: attribution.reduce((n, a) => n + a.pay_per_use, 0),
        estimated_cost: priced.length > 0 ? sumDecimal(priced.map((a) => a.estimated_cost as string)) : null,
        currency: priced[0]?.currency ?? null,
      },
      operations,
      apps: [...appMap.values()],
    };
  }
}

function sortedCounts(m: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function sumDecimal(values: string[]): string {
  return values.reduce((acc, v) => acc.plus(v), new Decimal(0)).toFixed();
}

/** `errors` as one CSV cell: "FRS.0033:3;METER.0429:1" (codes sorted). */
export function countsCell(m: Record<string, number>): string {
  return Object.entries(m)
    .map(([k, v]) => `${k}:${v}`)
    .join(';');
}
