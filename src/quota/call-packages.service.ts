// Call packages: registration, correction, removal, balances and exhaustion forecasts. Nothing
// about the balance is stored: it is total - used (as of used_as_of) - metered calls drawn since,
// from the drawdown engine (earliest expiry first, in the configured drawdown order), so it
// survives restarts and counts every replica.

import { Inject, Injectable, Logger } from '@nestjs/common';
import { CONFIG, Config } from '../config/config';
import { Clock } from '../common/clock';
import { MetricsService } from '../metrics/metrics.service';
import { OperationName } from '../frs/operations';
import { badRequest, notFound } from '../admin/meter-error';
import { CallPackageDef, meteredFrom, PackageBalance } from '../drawdown/engine';
import { DrawdownService } from '../drawdown/drawdown.service';
import { forecastExhaustion } from '../drawdown/forecast';
import { CallPackagesRepository } from '../drawdown/call-packages.repository';
import { CallPackageInput } from './quota.dto';

const DAY = 86_400_000;
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
  /** When used_calls was read (the balance is as of then). */
  readonly used_as_of: string;
  /** Metered calls inside the window before used_as_of: already in used_calls, attributed to the package. */
  readonly used_calls_metered: number;
  /** Calls metered through frs-meter and drawn from this package since used_as_of. */
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
  readonly balances: readonly PackageBalance[];
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
    private readonly drawdown: DrawdownService,
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

  /** `PUT /admin/call-packages/{id}`: corrects total, used (as of used_as_of), window or operations. */
  async correct(input: CallPackageInput): Promise<{ before: CallPackageView; after: CallPackageView }> {
    const before = (await this.state()).packages.find((p) => p.id === input.id);
    const old = await this.repo.get(input.id);
    if (!old || !before) throw notFound(`no call package "${input.id}"`);
    await this.repo.update({ ...input, registeredAt: old.registeredAt });
    const after = (await this.state()).packages.find((p) => p.id === input.id);
    if (!after) throw new Error(`call package ${input.id} was corrected but is not listed`);
    return { before, after };
  }

  /** `DELETE /admin/call-packages/{id}`: removes a package registered by mistake or refunded. */
  async remove(id: string): Promise<CallPackageView> {
    const before = (await this.state()).packages.find((p) => p.id === id);
    if (!before || !(await this.repo.remove(id))) throw notFound(`no call package "${id}"`);
    await this.state();
    return before;
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
    const state = await this.drawdown.state();
    const now = state.at;
    if (state.balances.length === 0) return (this.last = { at: now, packages: [], balances: [] });
    const rates = state.offeredPerMs;
    const windowDays = state.windowDays;
    const forecasts = forecastExhaustion(state.balances, rates, now, { windows: state.windows, overflowPerMs: state.overflowPerMs });
    const packages = state.balances.map((b) => {
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
        used_as_of: iso(p.usedAsOf ?? p.registeredAt),
        used_calls_metered: b.attributedBefore,
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
    return (this.last = { at: now, packages, balances: state.balances });
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
