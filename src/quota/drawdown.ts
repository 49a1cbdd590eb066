// Where each valid call's cost falls: QPS package, call package, free tier or pay-per-use, in the
// configured drawdown order (FRS_METER_DRAWDOWN_ORDER). One engine serves both the call-package
// balances (remaining, burn rate) and the monthly cost attribution, so the two always agree.
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
import { freeTierEligible } from '../usage/free-tier';
import { PriceTable } from './price-table';

const MINUTE = 60_000;
const DAY = 86_400_000;

export interface CallPackageDef {
  readonly id: string;
  readonly operations: readonly OperationName[];
  readonly totalCalls: number;
  /** Calls already used when the package was registered (drawn elsewhere or earlier). */
  readonly usedCalls: number;
  readonly startsAt: number;
  readonly expiresAt: number;
  readonly registeredAt: number;
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
  readonly n: number;
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
  /** Estimated pay-per-use cost; null when the price table has no price for the operation. */
  cost: Decimal | null;
}

export interface PackageBalance {
  readonly def: CallPackageDef;
  /** Calls drawn from the package by metered usage since it was registered. */
  drawn: number;
  remaining: number;
  /** Minute in which metered calls used up the package, if they did. */
  exhaustedAt?: number;
}

/**
 * Calls of a package are metered from its start, or from its registration if that is later,
 * from the start of that minute (usage is stored per minute; the minute in which it starts counts).
 */
export function meteredFrom(p: CallPackageDef): number {
  return floorMinute(Math.max(p.startsAt, p.registeredAt));
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
}

export class DrawdownEngine {
  /** Balances, earliest expiry first: the order packages are drawn in. */
  readonly balances: PackageBalance[];
  /** Attribution of collected calls per operation, then app. */
  readonly attribution = new Map<OperationName, Map<string, Split>>();
  /** Calls per operation that reached the call-package stage since demandFrom. */
  readonly demand = new Map<OperationName, number>();

  private month = '';
  private readonly freeUsed = new Map<OperationName, number>();
  private pooledUsed = 0;
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
      .map((def) => ({ def, drawn: 0, remaining: Math.max(0, def.totalCalls - def.usedCalls) }));
  }

  /**
   * True when a finite allowance (a call package, the free calls) runs out inside this chunk:
   * then which calls got it depends on their order, and the chunk must be fed minute by minute.
   * Found by a dry run of the chunk on a snapshot of the state.
   */
  needsDetail(chunk: Chunk): boolean {
    if (chunk.to - chunk.from <= MINUTE || chunk.rows.length < 2) return false;
    this.enterMonth(chunk.from);
    const before = this.snapshot();
    this.distribute(chunk, false);
    const amount = this.config.usage.freeTierCalls;
    let runsOut = this.balances.some((b, i) => before.remaining[i] > 0 && b.remaining === 0);
    if (!runsOut && this.config.usage.freeTierScope === 'pooled') runsOut = before.pooledUsed < amount && this.pooledUsed >= amount;
    if (!runsOut) for (const [op, used] of this.freeUsed) if ((before.freeUsed.get(op) ?? 0) < amount && used >= amount) runsOut = true;
    this.restore(before);
    return runsOut;
  }

  private snapshot() {
    return {
      remaining: this.balances.map((b) => b.remaining),
      drawn: this.balances.map((b) => b.drawn),
      exhaustedAt: this.balances.map((b) => b.exhaustedAt),
      freeUsed: new Map(this.freeUsed),
      pooledUsed: this.pooledUsed,
      validCount: new Map(this.validCount),
      payCount: new Map(this.payCount),
      demand: new Map(this.demand),
    };
  }

  private restore(s: ReturnType<DrawdownEngine['snapshot']>): void {
    this.balances.forEach((b, i) => {
      b.remaining = s.remaining[i];
      b.drawn = s.drawn[i];
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
    this.pooledUsed = s.pooledUsed;
  }

  apply(chunk: Chunk): void {
    this.enterMonth(chunk.from);
    this.distribute(chunk, true);
  }

  private distribute(chunk: Chunk, record: boolean): void {
    const t = chunk.from;
    const collecting = record && this.opts.collect !== undefined && t >= this.opts.collect.from && t < this.opts.collect.to;
    for (const row of chunk.rows) {
      if (row.n <= 0) continue;
      const split: Split = { qps_package: 0, call_package: 0, free_tier: 0, pay_per_use: 0, cost: null };
      let n = row.n;
      const op = row.operation;
      for (const bucket of this.config.usage.drawdownOrder) {
        if (n === 0) break;
        const took = this.take(bucket, op, t, n, split);
        n -= took;
      }
      this.validCount.set(op, (this.validCount.get(op) ?? 0) + row.n);
      if (collecting) this.addSplit(op, row.app, split);
    }
  }

  private take(bucket: CostBucket, op: OperationName, t: number, n: number, split: Split): number {
    switch (bucket) {
      case 'qps_package': {
        if (!this.qpsCovered(op, t)) return 0;
        split.qps_package += n;
        return n;
      }
      case 'call_package': {
        const since = this.opts.demandFrom?.get(op);
        if (since !== undefined && t >= since) this.demand.set(op, (this.demand.get(op) ?? 0) + n);
        let took = 0;
        for (const b of this.balances) {
          if (took === n) break;
          if (b.remaining <= 0 || !b.def.operations.includes(op) || !this.packageValid(b.def, t)) continue;
          const k = Math.min(n - took, b.remaining);
          b.remaining -= k;
          b.drawn += k;
          took += k;
          if (b.remaining === 0) b.exhaustedAt = t;
        }
        split.call_package += took;
        return took;
      }
      case 'free_tier': {
        if (!freeTierEligible(this.config, op)) return 0;
        const amount = this.config.usage.freeTierCalls;
        const pooled = this.config.usage.freeTierScope === 'pooled';
        const used = pooled ? this.pooledUsed : (this.freeUsed.get(op) ?? 0);
        const k = Math.min(n, Math.max(0, amount - used));
        if (pooled) this.pooledUsed += k;
        else this.freeUsed.set(op, used + k);
        split.free_tier += k;
        return k;
      }
      case 'pay_per_use': {
        const prices = this.opts.prices;
        if (prices) {
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
    acc.qps_package += s.qps_package;
    acc.call_package += s.call_package;
    acc.free_tier += s.free_tier;
    acc.pay_per_use += s.pay_per_use;
    if (s.cost !== null) acc.cost = (acc.cost ?? new Decimal(0)).plus(s.cost);
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
    this.month = month;
    this.freeUsed.clear();
    this.pooledUsed = 0;
    this.validCount.clear();
    this.payCount.clear();
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
