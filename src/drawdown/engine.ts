// The drawdown engine: where each valid call's cost falls — QPS package, call package, free tier
// or pay-per-use — in the configured drawdown order (FRS_METER_DRAWDOWN_ORDER; Huawei's is QPS
// package → call package → pay-per-use, and the free calls are the first pay-per-use calls of the
// month, hence the default qps_package,call_package,free_tier,pay_per_use). It is the one place
// every accounting number comes from: free calls left, call-package balances and burn rates,
// per-app attribution and cost, the marginal cost of the next call, and the inputs of forecasts.
// Nothing else may recompute any of these (SPEC: one truth per number).
//
// Two kinds of calls besides valid ones enter it: calls over a QPS package's per-second rate
// (`overflow`, counted on the hot path per sliding 1-second window) are not covered by the package
// and fall to the next step; possibly-billed attempts (cut at the proxy's timeout or with the
// connection lost after the request was sent) go through the same steps after the valid calls of
// their row, so free calls left and package balances take the conservative view — a possibly
// billed call is counted as used — without ever being charged to an app as a valid call.
//
// Input is metered usage in time order, as chunks: spans of time with the billable calls per
// (operation, app) inside them. Chunk edges include every instant at which something changes
// (month starts, package starts and expiries, QPS package windows), so within a chunk every call
// has the same choices. Only when a finite allowance runs out inside a chunk does the order of
// calls within it matter; the engine says so (needsDetail) and is then fed the chunk again one
// minute at a time. Inside a minute, calls are taken in catalogue order of operations, then by
// app name: the stored usage has minute resolution, so that is as fine as the split can be.
//
// Times resolve to the minute, as usage is stored: the minute in which a window starts belongs
// to it, and so does every minute that starts before the window ends.

import Decimal from 'decimal.js';
import { Config, CostBucket } from '../config/config';
import { billingMonthOf, monthRange, nextMonth } from '../common/billing-month';
import { OPERATIONS, OperationName } from '../frs/operations';
import { freeTierEligible, freeTierKey } from './free-tier';
import { PriceTable } from './price-table';

const MINUTE = 60_000;
const DAY = 86_400_000;

export interface CallPackageDef {
  readonly id: string;
  readonly operations: readonly OperationName[];
  readonly totalCalls: number;
  /** Calls Huawei showed as used at `usedAsOf` (drawn elsewhere, or by metered calls before then). */
  readonly usedCalls: number;
  readonly startsAt: number;
  readonly expiresAt: number;
  readonly registeredAt: number;
  /** When `usedCalls` was read (default: the registration). */
  readonly usedAsOf?: number;
}

/** A span during which an operation's calls are covered by a QPS package. */
export interface QpsWindow {
  readonly operation: OperationName;
  readonly from: number;
  readonly to: number;
}

/** Coverage of QPS packages: each covers [starts_at, min(expires_at, replaced_at)). */
export function qpsWindows(packages: readonly { operation: OperationName; startsAt: number; expiresAt: number; replacedAt?: number }[]): QpsWindow[] {
  return packages
    .map((p) => ({ operation: p.operation, from: floorMinute(p.startsAt), to: Math.min(p.expiresAt, p.replacedAt ?? Infinity) }))
    .filter((w) => w.to > w.from);
}

export interface ChunkRow {
  readonly operation: OperationName;
  readonly app: string;
  /** Valid (billable, 2xx) calls. */
  readonly n: number;
  /** Of `n`, calls over the QPS package's rate in their 1-second window: not covered by it. */
  readonly overflow?: number;
  /** Possibly-billed attempts (not in `n`): drawn after the valid calls, never charged to the app. */
  readonly possibly?: number;
}

/** Billable calls whose minute starts in [from, to); rows in catalogue order, then app. */
export interface Chunk {
  readonly from: number;
  readonly to: number;
  readonly rows: readonly ChunkRow[];
}

export interface Split {
  qps_package: number;
  call_package: number;
  free_tier: number;
  pay_per_use: number;
  /** Valid calls over the QPS package's rate (they are in the later buckets, not in qps_package). */
  qps_overflow: number;
  /** Possibly-billed attempts drawn (conservatively) after the valid calls; not in the buckets above. */
  possibly_billed: number;
  /** Estimated pay-per-use cost of the valid calls; null when the price table has no price for the operation. */
  cost: Decimal | null;
}

function mergeSplit(acc: Split, s: Split): void {
  acc.qps_package += s.qps_package;
  acc.call_package += s.call_package;
  acc.free_tier += s.free_tier;
  acc.pay_per_use += s.pay_per_use;
  acc.qps_overflow += s.qps_overflow;
  acc.possibly_billed += s.possibly_billed;
  if (s.cost !== null) acc.cost = (acc.cost ?? new Decimal(0)).plus(s.cost);
}

export function emptySplit(): Split {
  return { qps_package: 0, call_package: 0, free_tier: 0, pay_per_use: 0, qps_overflow: 0, possibly_billed: 0, cost: null };
}

/** What the next call of an operation would cost, and which step would pay for it. */
export interface Marginal {
  readonly bucket: CostBucket;
  /** The price-table amount (0 for package and free calls); null when the operation is unpriced. */
  readonly amount: Decimal | null;
  /** When bucket is call_package: the package it would be drawn from. */
  readonly packageId?: string;
}

export interface PackageBalance {
  readonly def: CallPackageDef;
  /** Calls drawn from the package by metered usage since `usedAsOf`. */
  drawn: number;
  remaining: number;
  /** Of `usedCalls`, what metered calls before `usedAsOf` inside the window can still be attributed to (they are in used_calls already). */
  before: number;
  /** Metered calls before `usedAsOf` attributed to the package (already counted in used_calls). */
  attributedBefore: number;
  /** Minute in which metered calls used up the package, if they did. */
  exhaustedAt?: number;
}

/**
 * Calls are drawn from a package's remaining balance from its start, or from the time its
 * used_calls was read (used_as_of, default the registration) if that is later, from the start of
 * that minute (usage is stored per minute; the minute in which it starts counts).
 */
export function meteredFrom(p: CallPackageDef): number {
  return floorMinute(Math.max(p.startsAt, p.usedAsOf ?? p.registeredAt));
}

/** The minute the package window starts in: calls from then until meteredFrom are attributed to it from used_calls. */
export function windowFrom(p: CallPackageDef): number {
  return floorMinute(p.startsAt);
}

function floorMinute(t: number): number {
  return t - (((t % MINUTE) + MINUTE) % MINUTE);
}

const OP_INDEX = new Map<string, number>(OPERATIONS.map((o, i) => [o.name, i]));

export function compareRows(a: ChunkRow, b: ChunkRow): number {
  return (OP_INDEX.get(a.operation) ?? 99) - (OP_INDEX.get(b.operation) ?? 99) || (a.app < b.app ? -1 : a.app > b.app ? 1 : 0);
}

export interface EngineOptions {
  /** Collect the attribution of calls in [from, to) (a billing month). */
  readonly collect?: { readonly from: number; readonly to: number };
  /** Per operation, count calls offered to call packages from this instant on (burn rate). */
  readonly demandFrom?: ReadonlyMap<OperationName, number>;
  readonly prices?: PriceTable;
  /**
   * Local day starts of the collected month, ascending: the attribution is also kept per day
   * (daily reconciliation against Cost Center). Chunk bounds must include them.
   */
  readonly collectDays?: readonly number[];
}

export class DrawdownEngine {
  /** Balances, earliest expiry first: the order packages are drawn in. */
  readonly balances: PackageBalance[];
  /** Attribution of collected calls per operation, then app. */
  readonly attribution = new Map<OperationName, Map<string, Split>>();
  /** With `collectDays`: attribution of collected calls per day start, then operation. */
  readonly attributionByDay = new Map<number, Map<OperationName, Split>>();
  /** Calls per operation that reached the call-package stage since demandFrom. */
  readonly demand = new Map<OperationName, number>();
  /** Valid and possibly-billed calls per operation since demandFrom, whatever paid for them (forecasts). */
  readonly offered = new Map<OperationName, number>();
  /** Of those, valid calls over the QPS package's rate (what reaches call packages while a QPS package is in force). */
  readonly offeredOverflow = new Map<OperationName, number>();

  private month = '';
  /** Free calls used this month per free-tier scope key (operation, sub-service or account). */
  private readonly freeUsed = new Map<string, number>();
  private collectedFreeUsed?: Map<string, number>;
  /** Position in the month of the last valid / pay-per-use call per operation (price tiers). */
  private readonly validCount = new Map<OperationName, number>();
  private readonly payCount = new Map<OperationName, number>();

  constructor(
    private readonly config: Config,
    packages: readonly CallPackageDef[],
    private readonly qpsWindows: readonly QpsWindow[],
    private readonly opts: EngineOptions = {},
  ) {
    this.balances = [...packages]
      .sort((a, b) => a.expiresAt - b.expiresAt || (a.id < b.id ? -1 : 1))
      .map((def) => ({ def, drawn: 0, remaining: Math.max(0, def.totalCalls - def.usedCalls), before: def.usedCalls, attributedBefore: 0 }));
  }

  /**
   * True when a finite allowance (a call package, the free calls) runs out inside this chunk:
   * then which calls got it depends on their order, and the chunk must be fed minute by minute.
   * Found by a dry run of the chunk on a snapshot of the state.
   */
  needsDetail(chunk: Chunk): boolean {
    if (chunk.to - chunk.from <= MINUTE) return false;
    this.enterMonth(chunk.from);
    const before = this.snapshot();
    this.distribute(chunk, false);
    const amount = this.config.usage.freeTierCalls;
    // A package running out needs the minute even for a single row: exhausted_at is reported to the minute.
    let runsOut = this.balances.some((b, i) => before.remaining[i] > 0 && b.remaining === 0);
    if (!runsOut && chunk.rows.length > 1) for (const [k, used] of this.freeUsed) if ((before.freeUsed.get(k) ?? 0) < amount && used >= amount) runsOut = true;
    this.restore(before);
    return runsOut;
  }

  private snapshot() {
    return {
      remaining: this.balances.map((b) => b.remaining),
      drawn: this.balances.map((b) => b.drawn),
      before: this.balances.map((b) => b.before),
      attributedBefore: this.balances.map((b) => b.attributedBefore),
      exhaustedAt: this.balances.map((b) => b.exhaustedAt),
      freeUsed: new Map(this.freeUsed),
      validCount: new Map(this.validCount),
      payCount: new Map(this.payCount),
      demand: new Map(this.demand),
      offered: new Map(this.offered),
      offeredOverflow: new Map(this.offeredOverflow),
    };
  }

  private restore(s: ReturnType<DrawdownEngine['snapshot']>): void {
    this.balances.forEach((b, i) => {
      b.remaining = s.remaining[i];
      b.drawn = s.drawn[i];
      b.before = s.before[i];
      b.attributedBefore = s.attributedBefore[i];
      b.exhaustedAt = s.exhaustedAt[i];
    });
    const put = <K, V>(target: Map<K, V>, from: Map<K, V>) => {
      target.clear();
      for (const [k, v] of from) target.set(k, v);
    };
    put(this.freeUsed, s.freeUsed);
    put(this.validCount, s.validCount);
    put(this.payCount, s.payCount);
    put(this.demand, s.demand);
    put(this.offered, s.offered);
    put(this.offeredOverflow, s.offeredOverflow);
  }

  apply(chunk: Chunk): void {
    this.enterMonth(chunk.from);
    this.distribute(chunk, true);
  }

  private distribute(chunk: Chunk, record: boolean): void {
    const t = chunk.from;
    const collecting = record && this.opts.collect !== undefined && t >= this.opts.collect.from && t < this.opts.collect.to;
    for (const row of chunk.rows) {
      const possibly = row.possibly ?? 0;
      if (row.n <= 0 && possibly <= 0) continue;
      const split = emptySplit();
      const op = row.operation;
      const overflow = Math.min(row.n, row.overflow ?? 0);
      let n = row.n;
      for (const bucket of this.config.usage.drawdownOrder) {
        if (n === 0) break;
        // A dry run (record false) only needs the counts: pricing it would be wasted work.
        n -= this.take(bucket, op, t, n, overflow, split, !record);
      }
      if (this.qpsCovered(op, t)) split.qps_overflow = overflow;
      const since = this.opts.demandFrom?.get(op);
      if (since !== undefined && t >= since) {
        this.offered.set(op, (this.offered.get(op) ?? 0) + row.n + possibly);
        this.offeredOverflow.set(op, (this.offeredOverflow.get(op) ?? 0) + overflow);
      }
      this.validCount.set(op, (this.validCount.get(op) ?? 0) + row.n);
      if (possibly > 0) {
        // Same steps, on a scratch split: they use allowances up, but are no valid call of the app.
        const scratch = emptySplit();
        let p = possibly;
        for (const bucket of this.config.usage.drawdownOrder) {
          if (p === 0) break;
          p -= this.take(bucket, op, t, p, 0, scratch, true);
        }
        split.possibly_billed = possibly;
      }
      if (collecting) {
        this.addSplit(op, row.app, split);
        if (this.opts.collectDays) this.addDaySplit(t, op, split);
      }
    }
  }

  private addDaySplit(t: number, op: OperationName, s: Split): void {
    const days = this.opts.collectDays!;
    let lo = 0;
    let hi = days.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (days[mid] <= t) lo = mid;
      else hi = mid - 1;
    }
    let byOp = this.attributionByDay.get(days[lo]);
    if (!byOp) this.attributionByDay.set(days[lo], (byOp = new Map()));
    const acc = byOp.get(op);
    if (!acc) byOp.set(op, { ...s });
    else mergeSplit(acc, s);
  }

  private take(bucket: CostBucket, op: OperationName, t: number, n: number, overflow: number, split: Split, unpriced = false): number {
    switch (bucket) {
      case 'qps_package': {
        if (!this.qpsCovered(op, t)) return 0;
        const k = n - Math.min(n, overflow);
        split.qps_package += k;
        return k;
      }
      case 'call_package': {
        const since = this.opts.demandFrom?.get(op);
        if (since !== undefined && t >= since) this.demand.set(op, (this.demand.get(op) ?? 0) + n);
        let took = 0;
        for (const b of this.balances) {
          if (took === n) break;
          if (!b.def.operations.includes(op)) continue;
          // Before used_as_of, inside the window: Huawei drew these calls already; they are in used_calls.
          if (t >= windowFrom(b.def) && t < meteredFrom(b.def) && t < b.def.expiresAt && b.before > 0) {
            const k = Math.min(n - took, b.before);
            b.before -= k;
            b.attributedBefore += k;
            took += k;
            continue;
          }
          if (b.remaining <= 0 || !this.packageValid(b.def, t)) continue;
          const k = Math.min(n - took, b.remaining);
          b.remaining -= k;
          b.drawn += k;
          took += k;
          if (b.remaining === 0 && b.exhaustedAt === undefined) b.exhaustedAt = t;
        }
        split.call_package += took;
        return took;
      }
      case 'free_tier': {
        if (!freeTierEligible(this.config, op)) return 0;
        const key = freeTierKey(this.config, op);
        const used = this.freeUsed.get(key) ?? 0;
        const k = Math.min(n, Math.max(0, this.config.usage.freeTierCalls - used));
        this.freeUsed.set(key, used + k);
        split.free_tier += k;
        return k;
      }
      case 'pay_per_use': {
        const prices = this.opts.prices;
        if (prices && !unpriced) {
          const basis = prices.tierBasis === 'valid_calls' ? (this.validCount.get(op) ?? 0) + this.nonPayTaken(split) : (this.payCount.get(op) ?? 0);
          split.cost = prices.cost(op, basis + 1, n);
        }
        this.payCount.set(op, (this.payCount.get(op) ?? 0) + n);
        split.pay_per_use += n;
        return n;
      }
    }
  }

  /** Calls of the current row already taken by buckets before pay-per-use (they precede it in the month's volume). */
  private nonPayTaken(split: Split): number {
    return split.qps_package + split.call_package + split.free_tier;
  }

  private addSplit(op: OperationName, app: string, s: Split): void {
    let byApp = this.attribution.get(op);
    if (!byApp) this.attribution.set(op, (byApp = new Map()));
    const acc = byApp.get(app);
    if (!acc) {
      byApp.set(app, { ...s });
      return;
    }
    mergeSplit(acc, s);
  }

  private packageValid(p: CallPackageDef, t: number): boolean {
    return t >= meteredFrom(p) && t < p.expiresAt;
  }

  private qpsCovered(op: OperationName, t: number): boolean {
    for (const w of this.qpsWindows) if (w.operation === op && t >= w.from && t < w.to) return true;
    return false;
  }

  private enterMonth(t: number): void {
    const month = billingMonthOf(t, this.config.usage.billingTimezone);
    if (month === this.month) return;
    if (this.month !== '' && this.month === this.collectMonth()) this.collectedFreeUsed = new Map(this.freeUsed);
    this.month = month;
    this.freeUsed.clear();
    this.validCount.clear();
    this.payCount.clear();
  }

  /** Moves the engine's month to the one of `t` (after the last chunk): a new month starts with its free calls. */
  advanceTo(t: number): void {
    this.enterMonth(t);
  }

  private collectMonth(): string | undefined {
    return this.opts.collect ? billingMonthOf(this.opts.collect.from, this.config.usage.billingTimezone) : undefined;
  }

  /** Free-call use of the collected month: live while the engine is in it, as it ended once past, none before it started. */
  private collectedFree(): ReadonlyMap<string, number> {
    if (this.opts.collect === undefined || this.month === this.collectMonth()) return this.freeUsed;
    return this.collectedFreeUsed ?? new Map();
  }

  /** Free calls the operation may still use in the collected month (0 when it gets none), after everything applied. */
  freeLeft(op: OperationName): number {
    if (!freeTierEligible(this.config, op)) return 0;
    return Math.max(0, this.config.usage.freeTierCalls - this.freeUsedBy(op));
  }

  /** Free calls used in the collected month by the scope the operation belongs to (shared when the scope is shared). */
  freeUsedBy(op: OperationName): number {
    if (!freeTierEligible(this.config, op)) return 0;
    return this.collectedFree().get(freeTierKey(this.config, op)) ?? 0;
  }

  /**
   * The cost of the next valid call of `op` at `t` (at or after the last chunk applied): the
   * first step of the drawdown order that still has room pays for it. `overQps` says the call
   * would be over the QPS package's rate in its second (the hot path knows; default: not).
   */
  marginal(op: OperationName, t: number, overQps = false): Marginal {
    this.enterMonth(t);
    for (const bucket of this.config.usage.drawdownOrder) {
      switch (bucket) {
        case 'qps_package':
          if (!overQps && this.qpsCovered(op, t)) return { bucket, amount: new Decimal(0) };
          break;
        case 'call_package': {
          const b = this.balances.find((x) => x.remaining > 0 && x.def.operations.includes(op) && this.packageValid(x.def, t));
          if (b) return { bucket, amount: new Decimal(0), packageId: b.def.id };
          break;
        }
        case 'free_tier':
          if (freeTierEligible(this.config, op) && (this.freeUsed.get(freeTierKey(this.config, op)) ?? 0) < this.config.usage.freeTierCalls) return { bucket, amount: new Decimal(0) };
          break;
        case 'pay_per_use': {
          const prices = this.opts.prices;
          if (!prices) return { bucket, amount: null };
          const basis = prices.tierBasis === 'valid_calls' ? (this.validCount.get(op) ?? 0) : (this.payCount.get(op) ?? 0);
          return { bucket, amount: prices.cost(op, basis + 1, 1) };
        }
      }
    }
    return { bucket: 'pay_per_use', amount: null };
  }
}

/**
 * Chunk edges for [from, to): month starts (the free tier resets), UTC day starts (keeps chunks
 * small enough to cache and to re-read minute by minute), and every given instant inside.
 */
export function chunkBounds(from: number, to: number, instants: Iterable<number>, timeZone: string): number[] {
  const set = new Set<number>([from, to]);
  for (const t of instants) if (t > from && t < to) set.add(t);
  for (let d = from - (from % DAY) + DAY; d < to; d += DAY) set.add(d);
  let month = billingMonthOf(from, timeZone);
  for (;;) {
    month = nextMonth(month);
    const start = monthRange(month, timeZone).start;
    if (start >= to) break;
    set.add(start);
  }
  return [...set].sort((a, b) => a - b);
}
