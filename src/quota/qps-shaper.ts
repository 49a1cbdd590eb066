// QPS shaping (FRS_METER_QPS_SHAPING=on): hands out upstream slots so that no window of
// 1000 ms + margin holds more than `quota` calls, which keeps FRS's sliding 1-second limit
// (FRS.0033 beyond it) from ever triggering even with some network jitter. A call that would
// exceed the quota gets the earliest free slot if it is within the allowed wait, else it is
// refused and the proxy answers METER.0429 without calling FRS.
//
// Per operation it keeps the times of the last `quota` slots handed out in a ring: the next
// slot is max(now, oldest + window). Slot times never decrease, so any quota + 1 consecutive
// slots span at least the window. O(1) per call; memory only changes when the quota does.

import { performance } from 'node:perf_hooks';
import { OPERATION_NAMES, OperationName } from '../frs/operations';

/** reserve() answer for a call that may not wait long enough for a slot. */
export const REFUSED = -1;

interface Ring {
  times: Float64Array;
  /** Index of the oldest slot, which the next reservation replaces. */
  head: number;
}

export class QpsShaper {
  private readonly rings = {} as Record<OperationName, Ring>;

  constructor(
    private readonly windowMs: number,
    private readonly maxWaitMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    for (const op of OPERATION_NAMES) this.rings[op] = { times: new Float64Array(0), head: 0 };
  }

  /**
   * Reserves the next slot for one call under `quota` calls per window: 0 means go now, a
   * positive number is the wait in ms before the slot, REFUSED means the wait would exceed the
   * limit (nothing is reserved then).
   */
  reserve(operation: OperationName, quota: number, maxWaitMs = this.maxWaitMs): number {
    let ring = this.rings[operation];
    if (ring.times.length !== quota) ring = this.resize(operation, quota);
    if (quota <= 0) return REFUSED;
    const now = this.now();
    const oldest = ring.times[ring.head];
    const slot = oldest + this.windowMs > now ? oldest + this.windowMs : now;
    const wait = slot - now;
    if (wait > maxWaitMs) return REFUSED;
    ring.times[ring.head] = slot;
    ring.head = ring.head + 1 === quota ? 0 : ring.head + 1;
    return wait;
  }

  /** Keeps the most recent slots when the quota changes (a QPS package starts, ends or is replaced). */
  private resize(operation: OperationName, quota: number): Ring {
    const old = this.rings[operation];
    const n = old.times.length;
    const times = new Float64Array(Math.max(quota, 0)).fill(-Infinity);
    const keep = Math.min(n, times.length);
    // Oldest first in the old ring starts at head; copy its newest `keep` entries to the end.
    for (let k = 0; k < keep; k++) times[times.length - keep + k] = old.times[(old.head + n - keep + k) % n];
    const ring: Ring = { times, head: 0 };
    this.rings[operation] = ring;
    return ring;
  }
}
