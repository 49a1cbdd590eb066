// The one drawdown truth, read from the database: runs the engine (./engine.ts) over the metered
// usage with the registered packages and serves every number that depends on it — attribution
// and per-app cost of a month, free calls left, call-package balances and burn rates, and the
// marginal cost of the next call (issue 12's budgets). Reports call it; nothing recomputes any of
// it elsewhere. This module sits below usage, quota and billing: it reads usage_counts and the
// package tables itself and imports none of them (the usage module hands it a flush hook so
// "now" includes this replica's last second of calls).

import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import Decimal from 'decimal.js';
import { CONFIG, Config, isBillable } from '../config/config';
import { Clock } from '../common/clock';
import { billingMonthOf, dayStarts, monthRange, MONTH_RE } from '../common/billing-month';
import { BILLABLE_OPERATION_NAMES, OPERATIONS, OperationName } from '../frs/operations';
import { CallPackageDef, chunkBounds, DrawdownEngine, Marginal, meteredFrom, PackageBalance, QpsWindow, qpsWindows, Split, windowFrom } from './engine';
import { DrawdownRunner } from './drawdown-runner';
import { CallPackagesRepository } from './call-packages.repository';
import { QpsPackagesRepository } from './qps-packages.repository';
import { freeTierEligible } from './free-tier';
import { loadPriceTable, PriceTable } from './price-table';

const MINUTE = 60_000;
const DAY = 86_400_000;
const HOUR = 3_600_000;
/** Scrapes and hot-path readers take a state at most this old. */
export const STATE_MAX_AGE_MS = 5_000;

export interface OperationAttribution {
  operation: OperationName;
  valid_calls: number;
  qps_package: number;
  call_package: number;
  free_tier: number;
  pay_per_use: number;
  /** Valid calls over the QPS package's per-second rate (counted in call_package / free_tier / pay_per_use). */
  qps_overflow: number;
  /** Possibly-billed attempts: not valid calls, but counted as used by free calls left and package balances. */
  possibly_billed: number;
  /** Estimated pay-per-use cost as a decimal string; null without a price for the operation. */
  estimated_cost: string | null;
  currency: string | null;
}

export interface DailyAttribution {
  readonly day: string;
  readonly operation: OperationName;
  readonly valid_calls: number;
  readonly qps_package: number;
  readonly call_package: number;
  readonly free_tier: number;
  readonly pay_per_use: number;
  readonly estimated_cost: string | null;
}

export interface FreeCalls {
  readonly operation: OperationName;
  /** Size of the allowance the operation draws from (0 when excluded). */
  readonly allowance: number;
  /** Used this month by the operation's scope (shared by every operation of a shared scope). */
  readonly used: number;
  readonly left: number;
}

export interface MarginalCost {
  readonly operation: OperationName;
  readonly app: string;
  readonly at: string;
  readonly bucket: Marginal['bucket'];
  /** Decimal string; null when the price table has no price for the operation. */
  readonly amount: string | null;
  readonly currency: string | null;
  readonly package_id: string | null;
}

/** One run of the engine up to `at`, collecting the attribution of `month`. */
export interface DrawdownState {
  readonly at: number;
  readonly month: string;
  readonly engine: DrawdownEngine;
  readonly balances: readonly PackageBalance[];
  readonly windows: readonly QpsWindow[];
  /** Per operation: calls per ms since its forecast window start — all valid and possibly-billed calls, and those over the QPS rate. */
  readonly offeredPerMs: ReadonlyMap<OperationName, number>;
  readonly overflowPerMs: ReadonlyMap<OperationName, number>;
  readonly windowDays: ReadonlyMap<OperationName, number>;
}

export const PRICE_TABLE = Symbol('PRICE_TABLE');

/** The price table named by FRS_METER_PRICE_TABLE_FILE, read once at start; a bad file stops the start. */
export function priceTableProvider(config: Config): PriceTable | undefined {
  if (!config.usage.priceTableFile) return undefined;
  const table = loadPriceTable(config.usage.priceTableFile);
  if (table.example) {
    new Logger('Drawdown').warn(`${config.usage.priceTableFile} is marked as an example: its prices are made up, and so are the cost estimates`);
  }
  return table;
}

@Injectable()
export class DrawdownService {
  private beforeRead: () => Promise<void> = async () => undefined;
  private healthy: () => boolean = () => true;
  private last?: DrawdownState;
  private computing = new Map<string, Promise<DrawdownState>>();

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly clock: Clock,
    private readonly callRepo: CallPackagesRepository,
    private readonly qpsRepo: QpsPackagesRepository,
    private readonly runner: DrawdownRunner,
    @Optional() @Inject(PRICE_TABLE) private readonly prices?: PriceTable,
  ) {}

  /** The usage module's flush (so reads include unflushed calls) and its health (a late flush invalidates cached chunks). */
  useUsage(flush: () => Promise<void>, healthy: () => boolean): void {
    this.beforeRead = flush;
    this.healthy = healthy;
  }

  get priceTable(): PriceTable | undefined {
    return this.prices;
  }

  /** A fresh run up to now, collecting `month` (default: the current billing month). Concurrent callers share one run. */
  state(month?: string): Promise<DrawdownState> {
    const m = month ?? billingMonthOf(this.clock.now(), this.config.usage.billingTimezone);
    let p = this.computing.get(m);
    if (!p) {
      p = this.compute(m).finally(() => this.computing.delete(m));
      this.computing.set(m, p);
    }
    return p;
  }

  /**
   * A fresh run of the current month that only the caller holds: budgets apply each call they
   * admit to its engine (engine.apply), so the next call's marginal cost moves along the free
   * tier and price tiers call by call without touching the shared state.
   */
  ownState(): Promise<DrawdownState> {
    return this.compute(billingMonthOf(this.clock.now(), this.config.usage.billingTimezone), false);
  }

  /** The current month's state, at most STATE_MAX_AGE_MS old: for scrapes and frequent readers. */
  async recent(): Promise<DrawdownState> {
    const now = this.clock.now();
    const month = billingMonthOf(now, this.config.usage.billingTimezone);
    if (this.last && now - this.last.at < STATE_MAX_AGE_MS && this.last.month === month) return this.last;
    return this.state(month);
  }

  /** The last current-month state computed, without waiting (undefined before the first). */
  lastState(): DrawdownState | undefined {
    return this.last;
  }

  /** Per billable operation, the month's valid calls (of `app`, if given) split by where their cost fell. */
  async attribute(month: string, app?: string): Promise<OperationAttribution[]> {
    if (!MONTH_RE.test(month)) throw new Error(`not a month: ${month} (expected YYYY-MM)`);
    return this.attributionOf(await this.state(month), app);
  }

  attributionOf(state: DrawdownState, app?: string): OperationAttribution[] {
    const totals = new Map<OperationName, Split & { cost: Decimal }>();
    for (const [op, byApp] of state.engine.attribution) {
      for (const [a, s] of byApp) {
        if (app !== undefined && a !== app) continue;
        let acc = totals.get(op);
        if (!acc) totals.set(op, (acc = { qps_package: 0, call_package: 0, free_tier: 0, pay_per_use: 0, qps_overflow: 0, possibly_billed: 0, cost: new Decimal(0) }));
        acc.qps_package += s.qps_package;
        acc.call_package += s.call_package;
        acc.free_tier += s.free_tier;
        acc.pay_per_use += s.pay_per_use;
        acc.qps_overflow += s.qps_overflow;
        acc.possibly_billed += s.possibly_billed;
        if (s.cost) acc.cost = acc.cost.plus(s.cost);
      }
    }
    return OPERATIONS.filter((o) => isBillable(this.config, o.name)).map((o) => {
      const a = totals.get(o.name) ?? { qps_package: 0, call_package: 0, free_tier: 0, pay_per_use: 0, qps_overflow: 0, possibly_billed: 0, cost: new Decimal(0) };
      const priced = this.prices?.covers(o.name) ?? false;
      return {
        operation: o.name,
        valid_calls: a.qps_package + a.call_package + a.free_tier + a.pay_per_use,
        qps_package: a.qps_package,
        call_package: a.call_package,
        free_tier: a.free_tier,
        pay_per_use: a.pay_per_use,
        qps_overflow: a.qps_overflow,
        possibly_billed: a.possibly_billed,
        estimated_cost: priced ? a.cost.toFixed() : null,
        currency: priced ? (this.prices?.currency ?? null) : null,
      };
    });
  }

  /**
   * Per local day of the state's month (YYYY-MM-DD) and billable operation: the valid calls of
   * that day, where their cost fell and its estimate — the metered side of the daily
   * reconciliation against Cost Center. Days without calls are left out.
   */
  dailyOf(state: DrawdownState): DailyAttribution[] {
    const tz = this.config.usage.billingTimezone;
    const out: DailyAttribution[] = [];
    for (const [dayStart, byOp] of [...state.engine.attributionByDay].sort((a, b) => a[0] - b[0])) {
      const p = new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(dayStart));
      for (const o of OPERATIONS) {
        const s = byOp.get(o.name);
        if (!s || !isBillable(this.config, o.name)) continue;
        const priced = this.prices?.covers(o.name) ?? false;
        out.push({
          day: p,
          operation: o.name,
          valid_calls: s.qps_package + s.call_package + s.free_tier + s.pay_per_use,
          qps_package: s.qps_package,
          call_package: s.call_package,
          free_tier: s.free_tier,
          pay_per_use: s.pay_per_use,
          estimated_cost: priced ? (s.cost ?? new Decimal(0)).toFixed() : null,
        });
      }
    }
    return out;
  }

  /** Per app and operation, the estimated cost of its valid calls of the state's month (decimal). */
  appCosts(state: DrawdownState): Map<string, Map<OperationName, Decimal | null>> {
    const out = new Map<string, Map<OperationName, Decimal | null>>();
    for (const [op, byApp] of state.engine.attribution) {
      for (const [app, s] of byApp) {
        let m = out.get(app);
        if (!m) out.set(app, (m = new Map()));
        m.set(op, this.prices?.covers(op) ? (s.cost ?? new Decimal(0)) : null);
      }
    }
    return out;
  }

  /** Free calls used and left this month per billable operation (possibly-billed calls counted as used). */
  freeCallsOf(state: DrawdownState): FreeCalls[] {
    return BILLABLE_OPERATION_NAMES.filter((o) => isBillable(this.config, o)).map((operation) => {
      if (!freeTierEligible(this.config, operation)) return { operation, allowance: 0, used: 0, left: 0 };
      return { operation, allowance: this.config.usage.freeTierCalls, used: state.engine.freeUsedBy(operation), left: state.engine.freeLeft(operation) };
    });
  }

  /**
   * What the next valid call of `operation` by `app` at `at` (default now) would cost: the drawdown
   * step that pays for it and the price-table amount. Uses a state at most STATE_MAX_AGE_MS old,
   * so it is cheap enough to ask per request batch. The app does not change Huawei's price; it
   * is in the signature because budgets are per app and the answer names it.
   */
  async marginalCost(app: string, operation: OperationName, at?: number, overQps = false): Promise<MarginalCost> {
    const state = await this.recent();
    return this.marginalOf(state, app, operation, at ?? this.clock.now(), overQps);
  }

  marginalOf(state: DrawdownState, app: string, operation: OperationName, at: number, overQps = false): MarginalCost {
    const m = state.engine.marginal(operation, Math.max(at, state.at), overQps);
    return {
      operation,
      app,
      at: new Date(at).toISOString(),
      bucket: m.bucket,
      amount: m.amount === null ? null : m.amount.toFixed(),
      currency: m.amount === null ? null : (this.prices?.currency ?? null),
      package_id: m.packageId ?? null,
    };
  }

  /**
   * The same run under another free-tier scope: which scope a final bill is consistent with is
   * found by pricing the month under each (the reconciliation), not by a second rule.
   */
  async stateUnderScope(month: string, scope: Config['usage']['freeTierScope']): Promise<DrawdownState> {
    return this.compute(month, false, { ...this.config, usage: { ...this.config.usage, freeTierScope: scope } });
  }

  private async compute(month: string, shared = true, config: Config = this.config): Promise<DrawdownState> {
    if (!this.healthy()) this.runner.invalidate();
    await this.beforeRead();
    const tz = this.config.usage.billingTimezone;
    const now = this.clock.now();
    const current = billingMonthOf(now, tz);
    const range = monthRange(month, tz);
    const end = Math.max(now - (now % MINUTE) + MINUTE, month < current ? range.end : 0);
    const defs: CallPackageDef[] = (await this.callRepo.list()).filter((p) => windowFrom(p) < end);
    // From the start of the earliest month anything is drawn in, so the free tier's state is right when it comes first.
    const first = Math.min(range.start, now, ...defs.map(windowFrom));
    const start = monthRange(billingMonthOf(first, tz), tz).start;
    const windows = qpsWindows(await this.qpsRepo.overlapping(start, Math.max(end, now + 400 * DAY)));

    // Forecast window per operation: the last forecastWindowDays, shorter when the packages
    // covering the operation have not been metered that long.
    const windowMs = this.config.packages.forecastWindowDays * DAY;
    const demandFrom = new Map<OperationName, number>();
    for (const p of defs) {
      if (!(meteredFrom(p) <= now && now < p.expiresAt)) continue;
      for (const op of p.operations) demandFrom.set(op, Math.min(demandFrom.get(op) ?? Infinity, Math.max(now - windowMs, meteredFrom(p))));
    }
    // Local day starts too: the attribution is also kept per day (daily reconciliation).
    const days = dayStarts(month, tz);
    const instants: number[] = [range.start, range.end, ...demandFrom.values(), ...days];
    for (const p of defs) instants.push(windowFrom(p), meteredFrom(p), p.expiresAt);
    for (const w of windows) instants.push(w.from, w.to);
    // Hour edges over the last day: the chunk still being written (not settled, so read again on
    // every run) is then the current hour, not the whole day so far.
    for (let h = now - (now % HOUR) - 23 * HOUR; h < end; h += HOUR) instants.push(h);
    const engine = new DrawdownEngine(config, defs, windows, { collect: { from: range.start, to: range.end }, demandFrom, prices: this.prices, collectDays: days });
    await this.runner.run(engine, chunkBounds(start, end, instants, tz));
    engine.advanceTo(Math.min(now, end - 1));

    const offeredPerMs = new Map<OperationName, number>();
    const overflowPerMs = new Map<OperationName, number>();
    const windowDays = new Map<OperationName, number>();
    for (const [op, from] of demandFrom) {
      const span = now - from;
      if (span <= 0) continue;
      offeredPerMs.set(op, (engine.offered.get(op) ?? 0) / span);
      overflowPerMs.set(op, (engine.offeredOverflow.get(op) ?? 0) / span);
      windowDays.set(op, span / DAY);
    }
    const state: DrawdownState = { at: now, month, engine, balances: engine.balances, windows, offeredPerMs, overflowPerMs, windowDays };
    if (month === current && shared) this.last = state;
    return state;
  }
}
