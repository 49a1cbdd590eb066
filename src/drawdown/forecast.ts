// When will each call package run out at the recent burn rate? Demand per operation (calls per
// ms offered to call packages over the forecast window) is played forward: each operation draws
// from the earliest-expiring package that covers it and is in its validity window, exactly as
// metered calls are drawn. Between events (a package starts, expires or runs out) the rates are
// constant, so the projection is a handful of steps, not a time loop.
//
// A QPS package in force takes an operation's calls off the call packages (only the calls over its
// rate still reach them); when it expires, the whole demand moves onto the call packages, and when
// those run out, onto pay-per-use. Both switches are events of the projection.

import { OperationName } from '../frs/operations';
import { meteredFrom, PackageBalance, QpsWindow } from './engine';

export interface QpsForecastInput {
  readonly windows: readonly QpsWindow[];
  /** Per operation, calls per ms over the QPS package's rate (what still reaches call packages while it is in force). */
  readonly overflowPerMs: ReadonlyMap<OperationName, number>;
}

export interface Forecast {
  /** Projected time the package runs out; null when it is not being drawn or expires first. */
  readonly exhaustsAt: number | null;
  /** Calls projected to be left (and lost) when it expires; 0 when it runs out before. */
  readonly leftAtExpiry: number;
}

export function forecastExhaustion(
  balances: readonly PackageBalance[],
  ratePerMs: ReadonlyMap<OperationName, number>,
  now: number,
  qps: QpsForecastInput = { windows: [], overflowPerMs: new Map() },
): Map<string, Forecast> {
  const covered = (op: OperationName, t: number) => qps.windows.some((w) => w.operation === op && t >= w.from && t < w.to);
  const rem = new Map(balances.map((b) => [b.def.id, b.remaining]));
  const exhaustsAt = new Map<string, number>();
  const leftAtExpiry = new Map<string, number>();
  for (const b of balances) if (b.def.expiresAt <= now) leftAtExpiry.set(b.def.id, b.remaining);
  // Balances come earliest expiry first: the drawing order.
  const ordered = balances.map((b) => b.def);
  let t = now;
  for (let step = 0; step < 4 * ordered.length + 2 * qps.windows.length + 4; step++) {
    const active = ordered.filter((p) => (rem.get(p.id) ?? 0) > 0 && meteredFrom(p) <= t && t < p.expiresAt);
    const rate = new Map<string, number>();
    for (const [op, total] of ratePerMs) {
      const r = covered(op, t) ? (qps.overflowPerMs.get(op) ?? 0) : total;
      if (!(r > 0)) continue;
      const p = active.find((a) => a.operations.includes(op));
      if (p) rate.set(p.id, (rate.get(p.id) ?? 0) + r);
    }
    let next = Infinity;
    for (const p of ordered) {
      if (meteredFrom(p) > t) next = Math.min(next, meteredFrom(p));
      if (p.expiresAt > t) next = Math.min(next, p.expiresAt);
    }
    for (const w of qps.windows) {
      if (w.from > t) next = Math.min(next, w.from);
      if (w.to > t && w.to < Infinity) next = Math.min(next, w.to);
    }
    const runsOut = new Map<string, number>();
    for (const p of active) {
      const r = rate.get(p.id);
      if (!r) continue;
      const at = t + (rem.get(p.id) ?? 0) / r;
      runsOut.set(p.id, at);
      next = Math.min(next, at);
    }
    if (next === Infinity) break;
    for (const p of active) {
      const r = rate.get(p.id);
      if (!r) continue;
      if ((runsOut.get(p.id) ?? Infinity) <= next) {
        rem.set(p.id, 0);
        exhaustsAt.set(p.id, Math.round(next));
      } else {
        rem.set(p.id, (rem.get(p.id) ?? 0) - r * (next - t));
      }
    }
    for (const p of ordered) if (p.expiresAt === next && !leftAtExpiry.has(p.id)) leftAtExpiry.set(p.id, Math.max(0, Math.round(rem.get(p.id) ?? 0)));
    t = next;
  }
  const out = new Map<string, Forecast>();
  for (const p of ordered) {
    const at = exhaustsAt.get(p.id);
    out.set(p.id, { exhaustsAt: at ?? null, leftAtExpiry: at !== undefined ? 0 : (leftAtExpiry.get(p.id) ?? Math.round(rem.get(p.id) ?? 0)) });
  }
  return out;
}
