// Per-operation 1-second counts of upstream attempts over the last minute, for frs_qps_peak.
// A fixed ring of one slot per second: recording is two array writes, no allocation, so it can
// sit on the hot path; the peak is read at scrape time.

import { OPERATION_NAMES, OperationName } from '../frs/operations';

/** Seconds the peak looks back over (SPEC §6: "the last 60 s"). */
export const PEAK_WINDOW_SECONDS = 60;
/** More slots than the window, so the slot being reused is always outside it. */
const SLOTS = 64;

interface Ring {
  readonly second: Float64Array;
  readonly count: Uint32Array;
}

export class QpsTracker {
  private readonly rings = {} as Record<OperationName, Ring>;

  constructor() {
    for (const op of OPERATION_NAMES) this.rings[op] = { second: new Float64Array(SLOTS).fill(-1), count: new Uint32Array(SLOTS) };
  }

  record(operation: OperationName, nowMs: number): void {
    const ring = this.rings[operation];
    const s = Math.floor(nowMs / 1000);
    const i = s % SLOTS;
    if (ring.second[i] !== s) {
      ring.second[i] = s;
      ring.count[i] = 1;
    } else {
      ring.count[i]++;
    }
  }

  /** Highest count of one wall-clock second among the last 60 (the current, partial one included). */
  peak(operation: OperationName, nowMs: number): number {
    const ring = this.rings[operation];
    const now = Math.floor(nowMs / 1000);
    let max = 0;
    for (let i = 0; i < SLOTS; i++) {
      const s = ring.second[i];
      if (s > now - PEAK_WINDOW_SECONDS && s <= now && ring.count[i] > max) max = ring.count[i];
    }
    return max;
  }
}
