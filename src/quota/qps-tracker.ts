// Per-operation upstream attempts in sliding 1-second windows, as FRS limits them (any 1-second
// window, not wall-clock seconds): the count in (t − 1 s, t] at each attempt decides whether the
// attempt is over the QPS package's rate (not covered by it: frs_qps_overflow_calls_total), and
// the highest such count over the last 60 s is frs_qps_peak. Each operation keeps the times of
// its attempts of the last second in a growable ring, so recording is a few array operations with
// no allocation in the steady state (the ring only grows when a second holds more calls than
// ever before); the peak is read at scrape time.

import { OPERATION_NAMES, OperationName } from '../frs/operations';

/** Seconds the peak looks back over (SPEC §6: "the last 60 s"). */
export const PEAK_WINDOW_SECONDS = 60;
const WINDOW_MS = 1000;
/** Slots of per-second maxima; more than the window, so the slot being reused is always outside it. */
const SLOTS = 64;

class Window {
  times = new Float64Array(64);
  head = 0;
  size = 0;
  readonly second = new Float64Array(SLOTS).fill(-1);
  readonly max = new Uint32Array(SLOTS);

  /** Adds an attempt at `t` and returns the attempts in (t − 1 s, t], this one included. */
  add(t: number): number {
    const cap = this.times.length;
    while (this.size > 0 && this.times[this.head] <= t - WINDOW_MS) {
      this.head = (this.head + 1) % cap;
      this.size--;
    }
    if (this.size === cap) this.grow();
    this.times[(this.head + this.size) % this.times.length] = t;
    this.size++;
    const s = Math.floor(t / 1000);
    const i = s % SLOTS;
    if (this.second[i] !== s) {
      this.second[i] = s;
      this.max[i] = this.size;
    } else if (this.size > this.max[i]) {
      this.max[i] = this.size;
    }
    return this.size;
  }

  private grow(): void {
    const next = new Float64Array(this.times.length * 2);
    for (let k = 0; k < this.size; k++) next[k] = this.times[(this.head + k) % this.times.length];
    this.times = next;
    this.head = 0;
  }
}

export class QpsTracker {
  private readonly windows = {} as Record<OperationName, Window>;

  constructor() {
    for (const op of OPERATION_NAMES) this.windows[op] = new Window();
  }

  /** Records an attempt; returns how many attempts of the operation fall in the sliding second ending now. */
  record(operation: OperationName, nowMs: number): number {
    return this.windows[operation].add(nowMs);
  }

  /**
   * Per whole second in [fromS, toS] (epoch seconds, within the last minute) that had attempts:
   * the highest sliding-window count ending in it. Read off the hot path (the package advisor's
   * per-second peaks); seconds without attempts are left out.
   */
  secondMaxima(operation: OperationName, fromS: number, toS: number): Map<number, number> {
    const w = this.windows[operation];
    const out = new Map<number, number>();
    for (let i = 0; i < SLOTS; i++) {
      const s = w.second[i];
      if (s >= fromS && s <= toS && w.max[i] > 0) out.set(s, w.max[i]);
    }
    return out;
  }

  /** Highest count of any sliding 1-second window ending in the last 60 s. */
  peak(operation: OperationName, nowMs: number): number {
    const w = this.windows[operation];
    const now = Math.floor(nowMs / 1000);
    let max = 0;
    for (let i = 0; i < SLOTS; i++) {
      const s = w.second[i];
      if (s > now - PEAK_WINDOW_SECONDS && s <= now && w.max[i] > max) max = w.max[i];
    }
    return max;
  }
}
