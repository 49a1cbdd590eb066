// Per-app monthly budgets enforced at admission, before any upstream byte (issue 12).
//
// Exact across replicas without a database round trip per call: each replica leases blocks of an
// app's budget from Postgres (BudgetsRepository.grant, one atomic statement) and spends them in
// memory. A block is at most 1/8 of what is left of the budget (and FRS_METER_BUDGET_LEASE_CALLS),
// so blocks shrink as the budget nears its end and the last calls are leased one by one; the
// cap is never passed because nothing is spent that was not leased. A call that fails upstream
// gives its reservation back to the lease; a call that may have been billed (cut at the timeout)
// keeps it. Unused leases are given back on shutdown and when idle; a replica that dies stops
// renewing its leases and they expire after FRS_METER_BUDGET_LEASE_TTL_MS, staying committed (it
// may have sent any of their calls): a crash strands at most one block per app, never overspends.
//
// Currency caps price each call with the drawdown engine (BudgetPricer), so free calls, calls a
// package covers and the tier price of the call count exactly as attribution will count them.

import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import Decimal from 'decimal.js';
import { performance } from 'node:perf_hooks';
import { CONFIG, Config, isBillable } from '../config/config';
import { Clock } from '../common/clock';
import { billingMonthOf, monthRange } from '../common/billing-month';
import { OperationName } from '../frs/operations';
import { MetricsService } from '../metrics/metrics.service';
import { notFound } from '../admin/meter-error';
import { QpsCoordinator } from '../quota/qps-coordination';
import { UsageService } from '../usage/usage.service';
import { Budget, BudgetsRepository, LeaseRow } from './budgets.repository';
import { BudgetInput } from './budget.dto';
import { BudgetPricer, PricedCall } from './budget-pricer';

const ZERO = new Decimal(0);
/** After a refused grant, refuse from memory this long before asking Postgres again. */
const EXHAUSTED_MS = 250;

interface HeldLease {
  readonly id: string;
  readonly month: string;
  callsLeft: number;
  amountLeft: Decimal;
  lastUsed: number;
  /** Monotonic time of the grant: a renewal that started before it cannot know the lease. */
  readonly grantedAt: number;
}

interface AppState {
  budget: Budget;
  lease?: HeldLease;
  acquiring?: Promise<boolean>;
  exhaustedUntil: number;
  /** What was committed when the last grant was refused: for the refusal's message. */
  committed?: { calls: number; amount: Decimal };
}

/** One admitted call's share of a budget; settle() it once the call's fate is known. */
export interface BudgetTicket {
  readonly app: string;
  readonly leaseId: string;
  readonly calls: number;
  readonly amount: Decimal;
  /** The call as the pricer applied it (currency budgets). */
  readonly priced?: PricedCall;
}

/** A call the budget refuses: answered 402 METER.0402 (or 503 when the budget cannot be leased). */
export interface BudgetRefusal {
  readonly refused: true;
  readonly status: 402 | 503;
  readonly code: 'METER.0402' | 'METER.0503';
  readonly message: string;
  readonly budget: Record<string, unknown>;
}

export type Admission = BudgetTicket | BudgetRefusal | undefined;

export interface BudgetView {
  readonly app: string;
  readonly monthly_calls: number | null;
  readonly monthly_amount: string | null;
  readonly operations: readonly OperationName[] | null;
  readonly action: string;
  readonly alert_thresholds: readonly number[];
  readonly used_calls: number;
  readonly used_amount: string | null;
  readonly currency: string | null;
  readonly resets_at: string;
  readonly committed_calls: number;
  readonly committed_amount: string;
  readonly leases: LeaseRow[];
}

export function isRefusal(a: Admission): a is BudgetRefusal {
  return a !== undefined && (a as BudgetRefusal).refused === true;
}

@Injectable()
export class BudgetsService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Budgets');
  private states = new Map<string, AppState>();
  /** Metered billable calls of the month per app and operation, refreshed on the timer. */
  private billable = new Map<string, Map<OperationName, number>>();
  private month = '';
  private monthEnd = 0;
  private timer?: NodeJS.Timeout;
  private pricerDirty = false;
  private slowRefresh?: Promise<void>;
  private stopped = false;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly clock: Clock,
    private readonly repo: BudgetsRepository,
    private readonly pricer: BudgetPricer,
    private readonly coordinator: QpsCoordinator,
    private readonly metrics: MetricsService,
    private readonly usage: UsageService,
  ) {
    metrics.onCollect(() => this.collect());
  }

  async onModuleInit(): Promise<void> {
    await this.refresh().catch((err) => this.logger.warn(`could not read budgets, retrying on the next tick: ${String(err)}`));
    this.timer = setInterval(() => void this.tick(), this.config.budgets.refreshMs);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    // Give back what this replica holds, so the others can spend it at once.
    for (const st of this.states.values()) await this.giveBack(st).catch(() => undefined);
  }

  /**
   * Hot path, after authentication and before QPS admission: undefined when no block budget
   * covers the call; a ticket when the lease held in memory covers it (no database round trip);
   * a promise when a new lease must be taken first.
   */
  admit(app: string, operation: OperationName): Admission | Promise<Admission> {
    const st = this.states.get(app);
    if (!st || st.budget.action !== 'block') return undefined;
    const ops = st.budget.operations;
    if (ops ? !ops.includes(operation) : !isBillable(this.config, operation)) return undefined;
    const now = this.clock.now();
    if (now >= this.monthEnd) return this.slow(st, operation);
    let cost = ZERO;
    let priced: PricedCall | undefined;
    if (st.budget.monthlyAmount !== null) {
      const c = this.pricer.next(operation, app, now);
      if (c === undefined) return this.slow(st, operation);
      cost = c.cost;
      priced = c.call;
    }
    return this.take(st, cost, priced) ?? this.acquire(st, cost, priced);
  }

  /** `kept`: the call was billed or may have been; otherwise its reservation goes back to the lease. */
  settle(ticket: BudgetTicket, kept: boolean): void {
    if (ticket.priced) this.pricer.settle(ticket.priced, kept);
    if (kept) return;
    this.pricerDirty = true; // the engine counted the call as made until the next rebuild
    const lease = this.states.get(ticket.app)?.lease;
    if (!lease || lease.id !== ticket.leaseId) return; // that lease is closed: its part is not reused
    lease.callsLeft += ticket.calls;
    lease.amountLeft = lease.amountLeft.plus(ticket.amount);
  }

  private take(st: AppState, cost: Decimal, priced?: PricedCall): BudgetTicket | undefined {
    const lease = st.lease;
    const calls = st.budget.monthlyCalls !== null ? 1 : 0;
    if (!lease || lease.month !== this.month || lease.callsLeft < calls || lease.amountLeft.lt(cost)) return undefined;
    lease.callsLeft -= calls;
    if (!cost.isZero()) lease.amountLeft = lease.amountLeft.minus(cost);
    lease.lastUsed = this.clock.now();
    return { app: st.budget.app, leaseId: lease.id, calls, amount: cost, priced };
  }

  /** The month changed or the engine is not loaded yet: reload, then admit. */
  private async slow(st: AppState, operation: OperationName): Promise<Admission> {
    try {
      // Every call arriving meanwhile waits for the same refresh instead of starting its own.
      this.slowRefresh ??= this.refresh().finally(() => (this.slowRefresh = undefined));
      await this.slowRefresh;
    } catch (err) {
      return this.unavailable(st, err);
    }
    const again = this.states.get(st.budget.app);
    if (!again) return undefined;
    let cost = ZERO;
    let priced: PricedCall | undefined;
    if (again.budget.monthlyAmount !== null) {
      const c = this.pricer.next(operation, again.budget.app, this.clock.now());
      if (c === undefined) return this.unavailable(again, new Error('prices not loaded'));
      cost = c.cost;
      priced = c.call;
    }
    return this.take(again, cost, priced) ?? this.acquire(again, cost, priced);
  }

  /** Takes a new lease until the call fits; a refusal settles the priced call as not made. */
  private async acquire(st: AppState, cost: Decimal, priced?: PricedCall): Promise<Admission> {
    const answer = await this.acquireLoop(st, cost, priced);
    if (priced && isRefusal(answer)) {
      this.pricer.settle(priced, false);
      this.pricerDirty = true;
    }
    return answer;
  }

  private async acquireLoop(st: AppState, cost: Decimal, priced?: PricedCall): Promise<Admission> {
    for (let i = 0; i < 50; i++) {
      const ticket = this.take(st, cost, priced);
      if (ticket) return ticket;
      if (st.acquiring) {
        await st.acquiring.catch(() => undefined);
        continue;
      }
      if (this.clock.now() < st.exhaustedUntil) return this.refusal(st);
      const needCalls = st.budget.monthlyCalls !== null ? 1 : 0;
      st.acquiring = this.refill(st, needCalls, cost);
      let ok: boolean;
      try {
        ok = await st.acquiring;
      } catch (err) {
        return this.unavailable(st, err);
      } finally {
        st.acquiring = undefined;
      }
      if (!ok) return this.refusal(st);
    }
    return this.refusal(st);
  }

  /** Gives back the lease held (its unused part) and takes a new block that covers the need. */
  private async refill(st: AppState, needCalls: number, needAmount: Decimal): Promise<boolean> {
    await this.giveBack(st);
    const month = this.month;
    const lease = await this.repo.grant(st.budget.app, month, this.coordinator.replicaId, needCalls, this.config.budgets.leaseCalls, needAmount, this.config.budgets.leaseTtlMs);
    if (!lease) {
      st.committed = (await this.repo.committed(month)).get(st.budget.app);
      st.exhaustedUntil = this.clock.now() + EXHAUSTED_MS;
      return false;
    }
    st.lease = { id: lease.id, month, callsLeft: lease.calls, amountLeft: lease.amount, lastUsed: this.clock.now(), grantedAt: performance.now() };
    return true;
  }

  private async giveBack(st: AppState): Promise<void> {
    const old = st.lease;
    if (!old) return;
    st.lease = undefined; // nothing more is taken from it, whatever the database answers
    await this.repo.giveBack(old.id, old.callsLeft, old.amountLeft);
  }

  private refusal(st: AppState): BudgetRefusal {
    const b = st.budget;
    const used = st.committed ?? { calls: b.monthlyCalls ?? 0, amount: b.monthlyAmount ?? ZERO };
    const resets = new Date(this.monthEnd).toISOString();
    const parts: string[] = [];
    if (b.monthlyCalls !== null) parts.push(`${Math.min(used.calls, b.monthlyCalls)} of ${b.monthlyCalls} calls`);
    if (b.monthlyAmount !== null) parts.push(`${used.amount.toFixed()} of ${b.monthlyAmount.toFixed()}${this.pricer.prices ? ` ${this.pricer.prices.currency}` : ''}`);
    return {
      refused: true,
      status: 402,
      code: 'METER.0402',
      message: `Monthly budget of app "${b.app}" reached: ${parts.join(' and ')} used or held; the next call would pass it. It resets at ${resets}`,
      budget: { monthly_calls: b.monthlyCalls, monthly_amount: b.monthlyAmount?.toFixed() ?? null, used_calls: used.calls, used_amount: b.monthlyAmount ? used.amount.toFixed() : null, resets_at: resets },
    };
  }

  private unavailable(st: AppState, err: unknown): BudgetRefusal {
    this.logger.warn(`budget of ${st.budget.app} cannot be leased: ${String(err)}`);
    return { refused: true, status: 503, code: 'METER.0503', message: `The budget of app "${st.budget.app}" cannot be checked right now (database unreachable); retry later`, budget: {} };
  }

  // ------------------------------------------------------------------ admin API

  async put(app: string, input: BudgetInput): Promise<{ before: BudgetView | null; after: BudgetView }> {
    const { before } = await this.repo.put({ app, ...input }, this.clock.now());
    const beforeView = before ? await this.viewOf(before) : null;
    await this.refresh();
    return { before: beforeView, after: await this.get(app) };
  }

  async remove(app: string): Promise<BudgetView> {
    const st = this.states.get(app);
    const before = st ? await this.get(app) : undefined;
    const removed = await this.repo.remove(app);
    if (!removed) throw notFound(`app ${app} has no budget`);
    if (st) await this.giveBack(st).catch(() => undefined);
    await this.refresh();
    return before ?? (await this.viewOf(removed));
  }

  async get(app: string): Promise<BudgetView> {
    await this.refresh();
    const st = this.states.get(app);
    if (!st) throw notFound(`app ${app} has no budget`);
    return this.viewOf(st.budget);
  }

  /** Every budget with its month so far (for /admin/usage). */
  async list(): Promise<BudgetView[]> {
    await this.refresh();
    const out: BudgetView[] = [];
    for (const st of this.states.values()) out.push(await this.viewOf(st.budget));
    return out;
  }

  private async viewOf(b: Budget): Promise<BudgetView> {
    const committed = (await this.repo.committed(this.month)).get(b.app) ?? { calls: 0, amount: ZERO };
    const priced = this.pricer.prices !== undefined;
    return {
      app: b.app,
      monthly_calls: b.monthlyCalls,
      monthly_amount: b.monthlyAmount?.toFixed(2) ?? null,
      operations: b.operations,
      action: b.action,
      alert_thresholds: b.alertThresholds,
      used_calls: this.usedCalls(b),
      used_amount: priced ? this.pricer.spent(b.app, b.operations).toFixed() : null,
      currency: this.pricer.prices?.currency ?? null,
      resets_at: new Date(this.monthEnd).toISOString(),
      committed_calls: committed.calls,
      committed_amount: committed.amount.toFixed(),
      leases: await this.repo.leases(b.app, this.month),
    };
  }

  private usedCalls(b: Budget): number {
    let n = 0;
    for (const [op, k] of this.billable.get(b.app) ?? []) if (b.operations ? b.operations.includes(op) : true) n += k;
    return n;
  }

  // ------------------------------------------------------------------ refresh and metrics

  /** Budgets, the month's metered usage and (for currency caps) the engine, from the database. */
  async refresh(): Promise<void> {
    const now = this.clock.now();
    const month = billingMonthOf(now, this.config.usage.billingTimezone);
    if (month !== this.month) {
      this.month = month;
      this.monthEnd = monthRange(month, this.config.usage.billingTimezone).end;
    }
    const budgets = await this.repo.list();
    const next = new Map<string, AppState>();
    for (const b of budgets) {
      const old = this.states.get(b.app);
      if (old) {
        old.budget = b;
        next.set(b.app, old);
      } else next.set(b.app, { budget: b, exhaustedUntil: 0 });
    }
    for (const [app, st] of this.states) if (!next.has(app)) await this.giveBack(st).catch(() => undefined);
    this.states = next;
    if (this.pricer.prices && (budgets.some((b) => b.monthlyAmount !== null) || this.pricerDirty || !this.pricer.loaded)) {
      this.pricerDirty = false;
      await this.pricer.load();
    }
    const billable = new Map<string, Map<OperationName, number>>();
    if (budgets.length > 0) {
      await this.usage.flush();
      for (const r of await this.repo.billable(month)) {
        let m = billable.get(r.app);
        if (!m) billable.set(r.app, (m = new Map()));
        m.set(r.operation, r.n);
      }
    }
    this.billable = billable;
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      const renewStarted = performance.now();
      const active = await this.repo.renew(this.coordinator.replicaId, this.config.budgets.leaseTtlMs);
      const now = this.clock.now();
      for (const st of this.states.values()) {
        // Expired while this replica could not renew it: spending on is safe (it stays committed), but
        // its unused part can no longer be given back, so take a fresh lease when it runs out.
        if (st.lease && st.lease.grantedAt < renewStarted && !active.has(st.lease.id)) st.lease = undefined;
        else if (st.lease && now - st.lease.lastUsed > 2 * this.config.budgets.refreshMs && !st.acquiring) await this.giveBack(st);
      }
      await this.repo.expire();
      await this.refresh();
    } catch (err) {
      this.logger.warn(`budget refresh failed, spending the leases held: ${String(err)}`);
    }
  }

  private collect(): void {
    const m = this.metrics;
    m.budgetUsedRatio.reset();
    m.budgetRemaining.reset();
    m.budgetThresholdCrossed.reset();
    for (const st of this.states.values()) {
      const b = st.budget;
      const kinds: Array<[string, number, number]> = [];
      if (b.monthlyCalls !== null) kinds.push(['calls', this.usedCalls(b), b.monthlyCalls]);
      if (b.monthlyAmount !== null && this.pricer.prices) kinds.push(['amount', this.pricer.spent(b.app, b.operations).toNumber(), b.monthlyAmount.toNumber()]);
      for (const [kind, used, cap] of kinds) {
        const ratio = used / cap;
        m.budgetUsedRatio.set({ app: b.app, kind }, ratio);
        m.budgetRemaining.set({ app: b.app, kind }, Math.max(0, cap - used));
        m.budgetThresholdCrossed.set({ app: b.app, kind }, b.alertThresholds.filter((t) => ratio >= t).reduce((a, t) => Math.max(a, t), 0));
      }
    }
  }
}
