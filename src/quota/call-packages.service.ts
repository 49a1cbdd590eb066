// Call packages: registration, balances and exhaustion forecasts. Nothing about the balance is
// stored: it is total - used at registration - metered calls drawn since, replayed from
// usage_counts by the drawdown engine (earliest expiry first, in the configured drawdown order),
// so it survives restarts and counts every replica. Before a balance is computed this replica's
// unflushed usage is flushed, so "now" includes the calls just made.

import { Inject, Injectable, Logger } from '@nestjs/common';
import { CONFIG, Config } from '../config/config';
import { Clock } from '../common/clock';
import { billingMonthOf, monthRange } from '../common/billing-month';
import { MetricsService } from '../metrics/metrics.service';
import { OperationName } from '../frs/operations';
import { UsageService } from '../usage/usage.service';
import { badRequest } from '../admin/meter-error';
import { CallPackageDef, chunkBounds, DrawdownEngine, meteredFrom, PackageBalance, qpsWindows } from './drawdown';
import { DrawdownRunner } from './drawdown-runner';
import { forecastExhaustion } from './forecast';
import { CallPackagesRepository } from './call-packages.repository';
import { QpsPackagesRepository } from './qps-packages.repository';
import { CallPackageInput } from './quota.dto';

const DAY = 86_400_000;
const MINUTE = 60_000;
/** Expired packages stay on /metrics this long, then only the admin API lists them. */
const EXPOSE_EXPIRED_MS = 31 * DAY;
/** Balances are recomputed at most this often for scrapes. */
const GAUGE_MAX_AGE_MS = 5_000;

export type CallPackageStatus = 'scheduled' | 'active' | 'exhausted' | 'expired';

export interface CallPackageView {
  readonly id: string;
  readonly operations: readonly OperationName[];
  readonly total_calls: number;
  readonly used_calls: number;
  readonly starts_at: string;
  readonly expires_at: string;
  readonly registered_at: string;
  /** Calls metered through frs-meter and drawn from this package since it was registered. */
  readonly drawn_calls: number;
  readonly remaining_calls: number;
  readonly status: CallPackageStatus;
  readonly exhausted_at: string | null;
  /** Calls per day offered to call packages for its operations over the forecast window. */
  readonly burn_rate_per_day: number | null;
  readonly forecast_window_days: number | null;
  readonly exhaustion_forecast: string | null;
  /** Calls projected to be left, and lost, when it expires at the current burn rate. */
  readonly projected_unused_at_expiry: number;
}

export interface PackagesState {
  readonly at: number;
  readonly packages: CallPackageView[];
  readonly balances: PackageBalance[];
}

@Injectable()
export class CallPackagesService {
  private readonly logger = new Logger('CallPackages');
  private last?: PackagesState;
  private failing = false;
  private computing?: Promise<PackagesState>;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly clock: Clock,
    private readonly metrics: MetricsService,
    private readonly repo: CallPackagesRepository,
    private readonly qpsRepo: QpsPackagesRepository,
    private readonly runner: DrawdownRunner,
    private readonly usage: UsageService,
  ) {
    metrics.onCollect(() => this.collect());
  }

  async register(input: CallPackageInput): Promise<CallPackageView> {
    const registeredAt = this.clock.now();
    const def: CallPackageDef = { ...input, registeredAt };
    if (!(await this.repo.insert(def))) throw badRequest(`call package "${input.id}" already exists: ids are unique, register a new package under a new id`);
    const state = await this.state();
    const view = state.packages.find((p) => p.id === input.id);
    if (!view) throw new Error(`call package ${input.id} was written but is not listed`);
    return view;
  }

  async list(): Promise<CallPackageView[]> {
    return (await this.state()).packages;
  }

  /** Balances and forecasts now; concurrent callers share one computation. */
  state(): Promise<PackagesState> {
    if (!this.computing) {
      this.computing = this.compute().finally(() => (this.computing = undefined));
    }
    return this.computing;
  }

  private async compute(): Promise<PackagesState> {
    if (!this.usage.healthy) this.runner.invalidate();
    await this.usage.flush();
    const now = this.clock.now();
    const defs = await this.repo.list();
    if (defs.length === 0) return (this.last = { at: now, packages: [], balances: [] });
    const tz = this.config.usage.billingTimezone;
    const end = now - (now % MINUTE) + MINUTE;
    const first = Math.min(...defs.map(meteredFrom));
    // From the start of a billing month, so the free tier's state is right when it comes first.
    const start = Math.min(first, monthRange(billingMonthOf(Math.min(first, now), tz), tz).start);
    const windows = qpsWindows(await this.qpsRepo.overlapping(start, end));

    // Burn-rate window per operation: the last forecastWindowDays, shorter when the packages
    // covering the operation have not been metered that long.
    const windowMs = this.config.packages.forecastWindowDays * DAY;
    const demandFrom = new Map<OperationName, number>();
    for (const p of defs) {
      if (!(meteredFrom(p) <= now && now < p.expiresAt)) continue;
      for (const op of p.operations) {
        const from = Math.max(now - windowMs, meteredFrom(p));
        demandFrom.set(op, Math.min(demandFrom.get(op) ?? Infinity, from));
      }
    }
    const instants: number[] = [...demandFrom.values()];
    for (const p of defs) instants.push(meteredFrom(p), p.expiresAt);
    for (const w of windows) instants.push(w.from, w.to);
    const engine = new DrawdownEngine(this.config, defs, windows, { demandFrom });
    await this.runner.run(engine, chunkBounds(start, end, instants, tz));

    const rates = new Map<OperationName, number>();
    const windowDays = new Map<OperationName, number>();
    for (const [op, from] of demandFrom) {
      const span = now - from;
      if (span <= 0) continue;
      rates.set(op, (engine.demand.get(op) ?? 0) / span);
      windowDays.set(op, span / DAY);
    }
    const forecasts = forecastExhaustion(engine.balances, rates, now);
    const packages = engine.balances.map((b) => {
      const p = b.def;
      const f = forecasts.get(p.id);
      const active = meteredFrom(p) <= now && now < p.expiresAt;
      const status: CallPackageStatus = now >= p.expiresAt ? 'expired' : b.remaining === 0 ? 'exhausted' : now < meteredFrom(p) ? 'scheduled' : 'active';
      let rate: number | null = null;
      let days: number | null = null;
      if (active) {
        rate = 0;
        for (const op of p.operations) {
          rate += (rates.get(op) ?? 0) * DAY;
          days = Math.max(days ?? 0, windowDays.get(op) ?? 0);
        }
      }
      const view: CallPackageView = {
        id: p.id,
        operations: p.operations,
        total_calls: p.totalCalls,
        used_calls: p.usedCalls,
        starts_at: iso(p.startsAt),
        expires_at: iso(p.expiresAt),
        registered_at: iso(p.registeredAt),
        drawn_calls: b.drawn,
        remaining_calls: b.remaining,
        status,
        exhausted_at: b.exhaustedAt !== undefined ? iso(b.exhaustedAt) : null,
        burn_rate_per_day: rate,
        forecast_window_days: days,
        exhaustion_forecast: b.remaining > 0 && f?.exhaustsAt != null ? iso(f.exhaustsAt) : null,
        projected_unused_at_expiry: f?.leftAtExpiry ?? b.remaining,
      };
      return view;
    });
    return (this.last = { at: now, packages, balances: engine.balances });
  }

  private async collect(): Promise<void> {
    let state = this.last;
    try {
      if (!state || this.clock.now() - state.at >= GAUGE_MAX_AGE_MS) state = await this.state();
      this.failing = false;
    } catch (err) {
      // A scrape must not fail because the database is away: keep the last values.
      if (!this.failing) this.logger.warn(`call package balances not refreshed, keeping the last values: ${(err as Error).message}`);
      this.failing = true;
    }
    if (!state) return;
    const m = this.metrics;
    const now = this.clock.now();
    m.callPackageRemaining.reset();
    m.callPackageTotal.reset();
    m.callPackageExpiry.reset();
    m.callPackageExhaustion.reset();
    for (const p of state.packages) {
      const expiresAt = Date.parse(p.expires_at);
      if (now - expiresAt > EXPOSE_EXPIRED_MS) continue;
      const labels = { package: p.id };
      m.callPackageRemaining.set(labels, p.remaining_calls);
      m.callPackageTotal.set(labels, p.total_calls);
      m.callPackageExpiry.set(labels, expiresAt / 1000);
      const exhaustion = p.exhausted_at ?? p.exhaustion_forecast;
      m.callPackageExhaustion.set(labels, exhaustion ? Date.parse(exhaustion) / 1000 : Infinity);
    }
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
