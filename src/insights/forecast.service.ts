// GET /admin/forecast: the month's projected billable calls, free-tier burn-out, call-package
// run-outs and amount, each with an 80 % interval. The traffic model is traffic-profile.ts; the
// three traffic paths it gives (low, middle, high) are each played through the drawdown engine on
// top of the month as metered so far (DrawdownService.ownState: a private copy of the one
// engine), so every date and amount follows the engine's rules — packages first, then free calls,
// then the price table — and nothing here decides by itself which call is free or paid.

import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import Decimal from 'decimal.js';
import { CONFIG, Config, isBillable } from '../config/config';
import { Clock } from '../common/clock';
import { billingMonthOf, dayStarts, monthRange, MONTH_RE } from '../common/billing-month';
import { DATA_SOURCE } from '../database/database';
import { OPERATIONS, OperationName } from '../frs/operations';
import { DrawdownService, DrawdownState } from '../drawdown/drawdown.service';
import { Chunk, ChunkRow, compareRows, DrawdownEngine } from '../drawdown/engine';
import { freeTierKey } from '../drawdown/free-tier';
import { MetricsService } from '../metrics/metrics.service';
import { buildProfile, HourCount, QUANTILES, Quantile, TrafficProfile } from './traffic-profile';

const HOUR = 3600_000;
const DAY = 86_400_000;
/** Gauges are recomputed at most this often (a forecast is three engine runs). */
const GAUGE_TTL_MS = 5 * 60_000;
/** A forecast is served as it is this long, then recomputed in the background until FORECAST_STALE_MS. */
const FORECAST_FRESH_MS = 60_000;
const FORECAST_STALE_MS = 5 * 60_000;

/** An outcome's 10th, 50th and 90th percentile. */
export interface Band<T> {
  readonly p10: T;
  readonly p50: T;
  readonly p90: T;
}

export interface OperationForecast {
  readonly operation: OperationName;
  readonly calls_so_far: number;
  readonly calls: Band<number>;
  /** When the free calls run out (ISO); null: not within the month; `already` when before now. */
  readonly free_tier_burnout: Band<string | null> | 'already';
  readonly amount: Band<string> | null;
}

export interface PackageForecast {
  readonly id: string;
  readonly remaining_now: number;
  readonly runs_out: Band<string | null> | 'already';
  readonly remaining_at_month_end: Band<number>;
}

export interface AppForecast {
  readonly app: string;
  readonly calls: Band<number>;
  readonly amount: Band<string> | null;
}

export interface MonthForecast {
  readonly month: string;
  readonly at: string;
  readonly currency: string | null;
  readonly amount: Band<string> | null;
  readonly operations: OperationForecast[];
  readonly packages: PackageForecast[];
  readonly apps: AppForecast[];
  readonly model: {
    readonly description: string;
    readonly history_from: string;
    readonly history_to: string;
    /** Per operation: history days behind the residual ratios, and the ratios (p10/p50/p90). */
    readonly residuals: Record<string, { days: number; ratios: Band<number> }>;
    readonly notes: string[];
  };
}

export class ForecastInputError extends Error {}

const MODEL =
  'Per operation: mean calls per local weekday and hour over the history window, scaled for the rest of the month by the 10th/50th/90th percentile of the history days\' actual ÷ expected calls; each of the three paths is run through the drawdown engine after the calls metered so far.';

/** Which traffic path gives an outcome's percentile: more traffic means more calls and cost, but earlier run-out dates. */
const PATH_FOR = { calls: { p10: 0.1, p50: 0.5, p90: 0.9 }, dates: { p10: 0.9, p50: 0.5, p90: 0.1 } } as const;

interface PathResult {
  readonly state: DrawdownState;
  readonly freeBurnout: Map<OperationName, number | null>;
  readonly runOut: Map<string, number | null>;
}

@Injectable()
export class ForecastService {
  private readonly logger = new Logger('Forecast');
  private gaugeAt = 0;
  private gaugeRun?: Promise<void>;
  private readonly cached = new Map<string, { at: number; value: MonthForecast }>();
  private readonly computing = new Map<string, Promise<MonthForecast>>();

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly clock: Clock,
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    private readonly drawdown: DrawdownService,
    metrics: MetricsService,
  ) {
    // Scrapes never wait for a forecast: they read the last one and start the next when stale.
    metrics.onCollect(() => {
      if (this.clock.now() - this.gaugeAt < GAUGE_TTL_MS || this.gaugeRun) return;
      this.gaugeRun = this.refreshGauges(metrics)
        .catch((err: Error) => this.logger.warn(`forecast gauges not refreshed: ${err.message}`))
        .finally(() => (this.gaugeRun = undefined));
    });
  }

  private async refreshGauges(metrics: MetricsService): Promise<void> {
    this.gaugeAt = this.clock.now();
    const f = await this.forecast(billingMonthOf(this.clock.now(), this.config.usage.billingTimezone));
    metrics.forecastAmount.reset();
    if (f.amount) for (const q of ['p10', 'p50', 'p90'] as const) metrics.forecastAmount.set({ quantile: QLABEL[q] }, Number(f.amount[q]));
    metrics.forecastCalls.reset();
    for (const o of f.operations) for (const q of ['p10', 'p50', 'p90'] as const) metrics.forecastCalls.set({ operation: o.operation, quantile: QLABEL[q] }, o.calls[q]);
  }

  /**
   * The forecast of the month in progress. One forecast is three engine runs (about a second on a
   * month of data for 50 apps), and its hour-of-week model moves by the hour, so a result is served
   * for FORECAST_FRESH_MS, then for up to FORECAST_STALE_MS while a fresh one is computed in the
   * background; `at` says when it was computed. Concurrent askers share one computation.
   */
  async forecast(month: string): Promise<MonthForecast> {
    const now = this.clock.now();
    const hit = this.cached.get(month);
    const age = hit ? now - hit.at : -1;
    if (hit && age >= 0 && age < FORECAST_STALE_MS && billingMonthOf(now, this.config.usage.billingTimezone) === month) {
      if (age >= FORECAST_FRESH_MS) this.refresh(month).catch((err: Error) => this.logger.warn(`forecast not refreshed: ${err.message}`));
      return hit.value;
    }
    return this.refresh(month);
  }

  private refresh(month: string): Promise<MonthForecast> {
    const running = this.computing.get(month);
    if (running) return running;
    const at = this.clock.now();
    const run = this.compute(month)
      .then((value) => {
        this.cached.clear(); // only the month in progress is ever asked for
        this.cached.set(month, { at, value });
        return value;
      })
      .finally(() => this.computing.delete(month));
    this.computing.set(month, run);
    return run;
  }

  private async compute(month: string): Promise<MonthForecast> {
    if (!MONTH_RE.test(month)) throw new ForecastInputError(`not a month: ${JSON.stringify(month)} (expected YYYY-MM)`);
    const tz = this.config.usage.billingTimezone;
    const now = this.clock.now();
    const current = billingMonthOf(now, tz);
    if (month !== current) throw new ForecastInputError(`${month} is not the current billing month (${current}): forecasts are for the month in progress; past months are in /admin/reconciliation/${month}`);
    const range = monthRange(month, tz);
    const operations = OPERATIONS.filter((o) => isBillable(this.config, o.name)).map((o) => o.name);

    // History: whole local days before today.
    const todayStart = localMidnight(now, tz);
    const historyFrom = localMidnight(todayStart - this.config.insights.historyDays * DAY + HOUR, tz);
    const profile = buildProfile(await this.hourlyCounts(historyFrom, todayStart), operations, historyFrom, todayStart, tz);

    const base = await this.drawdown.ownState();
    const shares = appShares(base);
    const paths = new Map<Quantile, PathResult>();
    for (const q of QUANTILES) paths.set(q, await this.runPath(q, profile, operations, shares, now, range.end));

    const mid = paths.get(0.5)!.state;
    const band = <T>(f: (p: PathResult) => T, kind: 'calls' | 'dates' = 'calls'): Band<T> => ({
      p10: f(paths.get(PATH_FOR[kind].p10)!),
      p50: f(paths.get(PATH_FOR[kind].p50)!),
      p90: f(paths.get(PATH_FOR[kind].p90)!),
    });
    const priced = this.drawdown.priceTable !== undefined;
    const attr = (p: PathResult, app?: string) => new Map(this.drawdown.attributionOf(p.state, app).map((a) => [a.operation, a]));
    const baseAttr = new Map(this.drawdown.attributionOf(base).map((a) => [a.operation, a]));
    const sumCost = (p: PathResult, app?: string) => [...attr(p, app).values()].reduce((s, a) => s.plus(a.estimated_cost ?? 0), new Decimal(0)).toFixed(2);
    const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

    const ops: OperationForecast[] = operations.map((op) => ({
      operation: op,
      calls_so_far: baseAttr.get(op)?.valid_calls ?? 0,
      calls: band((p) => attr(p).get(op)?.valid_calls ?? 0),
      free_tier_burnout: base.engine.freeLeft(op) === 0 && this.config.usage.freeTierCalls > 0 && (base.engine.freeUsedBy(op) ?? 0) > 0 ? 'already' : band((p) => iso(p.freeBurnout.get(op) ?? null), 'dates'),
      amount: priced ? band((p) => new Decimal(attr(p).get(op)?.estimated_cost ?? 0).toFixed(2)) : null,
    }));
    const packages: PackageForecast[] = base.balances
      .filter((b) => b.def.expiresAt > now)
      .map((b) => ({
        id: b.def.id,
        remaining_now: b.remaining,
        runs_out: b.remaining === 0 ? 'already' : band((p) => iso(p.runOut.get(b.def.id) ?? null), 'dates'),
        remaining_at_month_end: band((p) => p.state.balances.find((x) => x.def.id === b.def.id)?.remaining ?? 0, 'dates'),
      }));
    const appNames = [...new Set([...mid.engine.attribution.values()].flatMap((m) => [...m.keys()]))].sort();
    const apps: AppForecast[] = appNames.map((app) => ({
      app,
      calls: band((p) => [...attr(p, app).values()].reduce((s, a) => s + a.valid_calls, 0)),
      amount: priced ? band((p) => sumCost(p, app)) : null,
    }));
    const notes: string[] = [];
    const thin = operations.filter((op) => (profile.residualDays.get(op) ?? 0) < 3);
    if (thin.length > 0) notes.push(`fewer than 3 whole history days for ${thin.join(', ')}: no interval for them (ratios taken as 1)`);
    if (!priced) notes.push('no price table (FRS_METER_PRICE_TABLE_FILE): amounts are not forecast');
    notes.push('Dates: p10 is the early date (high-traffic path), p90 the late one. Calls and amounts: p10 low, p90 high.');
    return {
      month,
      at: new Date(now).toISOString(),
      currency: priced ? (this.drawdown.priceTable?.currency ?? null) : null,
      amount: priced ? band((p) => sumCost(p)) : null,
      operations: ops,
      packages,
      apps,
      model: {
        description: MODEL,
        history_from: new Date(historyFrom).toISOString(),
        history_to: new Date(todayStart).toISOString(),
        residuals: Object.fromEntries(operations.map((op) => {
          const r = profile.ratios.get(op)!;
          return [op, { days: profile.residualDays.get(op) ?? 0, ratios: { p10: r[0.1], p50: r[0.5], p90: r[0.9] } }];
        })),
        notes,
      },
    };
  }

  /** Billable calls per operation and hour in [from, to), from usage_counts (all replicas). */
  private async hourlyCounts(from: number, to: number): Promise<HourCount[]> {
    const rows: { hour: Date; operation: string; n: string }[] = await this.db.query(
      `SELECT date_trunc('hour', minute) AS hour, operation, SUM(billable)::bigint AS n FROM usage_counts
        WHERE kind = 'attempt' AND billable > 0 AND minute >= $1 AND minute < $2 GROUP BY 1, 2`,
      [new Date(from), new Date(to)],
    );
    return rows.map((r) => ({ hour: r.hour.getTime(), operation: r.operation as OperationName, calls: Number(r.n) }));
  }

  /** One traffic path, hour by hour to the month's end, through a private copy of the engine. */
  private async runPath(q: Quantile, profile: TrafficProfile, operations: readonly OperationName[], shares: Map<OperationName, [string, number][]>, now: number, end: number): Promise<PathResult> {
    const state = await this.drawdown.ownState();
    const engine = state.engine;
    const freeBurnout = new Map<OperationName, number | null>(operations.map((op) => [op, null]));
    const runOut = new Map<string, number | null>(engine.balances.map((b) => [b.def.id, null]));
    const carry = new Map<string, number>();
    for (let from = now; from < end; ) {
      const hourStart = from - (from % HOUR);
      const to = Math.min(hourStart + HOUR, end);
      const rows: ChunkRow[] = [];
      for (const op of operations) {
        const expected = profile.expected(op, hourStart) * (profile.ratios.get(op)?.[q] ?? 1) * ((to - from) / HOUR);
        for (const [app, share] of shares.get(op) ?? [['(forecast)', 1]]) {
          // Whole calls, the fractions carried to the next hour, so the path's total stays exact.
          const key = `${op}|${app}`;
          const want = expected * share + (carry.get(key) ?? 0);
          const n = Math.floor(want + 1e-9);
          carry.set(key, want - n);
          if (n > 0) rows.push({ operation: op, app, n });
        }
      }
      if (rows.length > 0) this.applyTracked({ from, to, rows: rows.sort(compareRows) }, engine, operations, freeBurnout, runOut);
      from = to;
    }
    return { state, freeBurnout, runOut };
  }

  /**
   * Applies one projected chunk and notes what ran out inside it, placed in time by the share of
   * the chunk's calls it took to use it up (calls are spread evenly within the hour).
   */
  private applyTracked(chunk: Chunk, engine: DrawdownEngine, operations: readonly OperationName[], freeBurnout: Map<OperationName, number | null>, runOut: Map<string, number | null>): void {
    const freeBefore = new Map(operations.map((op) => [op, engine.freeLeft(op)]));
    const remBefore = new Map(engine.balances.map((b) => [b.def.id, b.remaining]));
    const paidBefore = totals(engine, operations, false);
    const drawnBefore = totals(engine, operations, true);
    engine.apply(chunk);
    const paidAfter = totals(engine, operations, false);
    const drawnAfter = totals(engine, operations, true);
    const span = chunk.to - chunk.from;
    for (const op of operations) {
      const before = freeBefore.get(op) ?? 0;
      if (freeBurnout.get(op) !== null || before <= 0 || engine.freeLeft(op) > 0) continue;
      // Calls of the free tier's scope that reached the free step in this chunk (free or paid).
      const scope = operations.filter((o) => freeTierKey(this.config, o) === freeTierKey(this.config, op));
      const reached = scope.reduce((s, o) => s + (paidAfter.get(o)! - paidBefore.get(o)!), 0);
      freeBurnout.set(op, Math.round(chunk.from + span * Math.min(1, before / Math.max(reached, 1))));
    }
    for (const b of engine.balances) {
      const before = remBefore.get(b.def.id) ?? 0;
      if (runOut.get(b.def.id) !== null || before <= 0 || b.remaining > 0) continue;
      // Calls of the package's operations that reached the call-package step in this chunk.
      const reached = b.def.operations.filter((o) => drawnAfter.has(o)).reduce((n, o) => n + (drawnAfter.get(o)! - drawnBefore.get(o)!), 0);
      runOut.set(b.def.id, Math.round(chunk.from + span * Math.min(1, before / Math.max(reached, 1))));
    }
  }
}

const QLABEL = { p10: '0.1', p50: '0.5', p90: '0.9' } as const;

/**
 * Calls per operation so far (all apps) that reached the free step (free-tier and pay-per-use),
 * or with `fromPackages` the call-package step (those plus package calls).
 */
function totals(engine: DrawdownEngine, operations: readonly OperationName[], fromPackages: boolean): Map<OperationName, number> {
  const out = new Map<OperationName, number>();
  for (const op of operations) {
    let n = 0;
    for (const s of engine.attribution.get(op)?.values() ?? []) n += s.free_tier + s.pay_per_use + (fromPackages ? s.call_package : 0);
    out.set(op, n);
  }
  return out;
}

/** Each app's share of an operation's valid calls this month so far: how projected calls are split among apps. */
function appShares(state: DrawdownState): Map<OperationName, [string, number][]> {
  const out = new Map<OperationName, [string, number][]>();
  for (const [op, byApp] of state.engine.attribution) {
    const list = [...byApp].map(([app, s]) => [app, s.qps_package + s.call_package + s.free_tier + s.pay_per_use] as [string, number]).filter(([, n]) => n > 0);
    const total = list.reduce((s, [, n]) => s + n, 0);
    if (total > 0) out.set(op, list.sort(([a], [b]) => (a < b ? -1 : 1)).map(([app, n]) => [app, n / total]));
  }
  return out;
}

/** The start of the local day that contains `ms` (DST-safe: the month's own day starts). */
function localMidnight(ms: number, timeZone: string): number {
  const starts = dayStarts(billingMonthOf(ms, timeZone), timeZone);
  let found = starts[0];
  for (const d of starts) if (d <= ms) found = d;
  return found;
}
