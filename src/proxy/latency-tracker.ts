// Rolling latency distribution per operation: what the upstream timeouts are derived from and
// what `frs_latency_p99_seconds` and `GET /admin/timeouts` show. Memory is bounded: per operation
// a ring of small HDR histograms, one per slice of the window, merged only when read.

import { build, Histogram } from 'hdr-histogram-js';
import { Config } from '../config/config';
import { OPERATIONS, OperationName } from '../frs/operations';
import { MetricsService } from '../metrics/metrics.service';
import { Clock } from '../common/clock';

/** Slices per window: the window slides in steps of window/SLICES (30 s for the default 300 s). */
export const SLICES = 10;

/**
 * Values are recorded in whole microseconds with 2 significant digits: 1 % resolution is far
 * finer than any timeout decision needs and keeps each histogram at ~13 KB (3 digits: ~87 KB),
 * so 16 operations × 10 slices stay under ~2 MB even when every operation is in use.
 */
const HISTOGRAM = Object.freeze({
  lowestDiscernibleValue: 1,
  highestTrackableValue: 600_000_000,
  numberOfSignificantValueDigits: 2 as const,
  autoResize: false,
  bitBucketSize: 32 as const,
  // The pure-JS histogram: the wasm one must be initialised asynchronously before first use.
  useWebAssembly: false,
});
const MAX_MICROS = HISTOGRAM.highestTrackableValue;

export interface LatencyPercentiles {
  /** Seconds; null when the window holds no sample. */
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
  /** Completed attempts in the window. */
  readonly count: number;
}

export interface RecentTimeouts {
  /** Attempts abandoned at the timeout in the current and previous slice. */
  readonly timeouts: number;
  /** Attempts completed (recorded) in the same slices. */
  readonly completed: number;
}

interface Slice {
  /** Which interval (floor(now / sliceMs)) the slice currently holds; -1 when never used. */
  epoch: number;
  readonly histogram: Histogram;
  timeouts: number;
}

class OperationWindow {
  readonly slices: Slice[] = [];

  constructor() {
    for (let i = 0; i < SLICES; i++) this.slices.push({ epoch: -1, histogram: build(HISTOGRAM), timeouts: 0 });
  }

  /** The slice for `epoch`, cleared first when it still holds an older interval. */
  slice(epoch: number): Slice {
    const s = this.slices[epoch % SLICES];
    if (s.epoch !== epoch) {
      s.histogram.reset();
      s.timeouts = 0;
      s.epoch = epoch;
    }
    return s;
  }
}

export class LatencyTracker {
  private readonly sliceMs: number;
  private readonly windows = new Map<OperationName, OperationWindow>();
  /** Scratch histogram reused for merges, so reads allocate nothing large. */
  private readonly merged = build(HISTOGRAM);

  constructor(config: Pick<Config, 'timeouts'>, metrics?: MetricsService, clock?: Clock) {
    this.sliceMs = (config.timeouts.windowSeconds * 1000) / SLICES;
    if (metrics && clock) {
      metrics.onCollect(() => {
        const now = clock.now();
        for (const { name } of OPERATIONS) {
          const p99 = this.percentiles(name, now).p99;
          // No samples, no gauge: a 0 would read as "instant" on a dashboard.
          if (p99 === null) metrics.latencyP99.remove(name);
          else metrics.latencyP99.labels(name).set(p99);
        }
      });
    }
  }

  /**
   * Records one COMPLETED upstream attempt (any status). Hot path: O(1), no allocation once an
   * operation has been seen. Attempts abandoned at the timeout go to `recordTimeout` instead:
   * as samples they would feed the p99 its own timeout and ratchet it up.
   */
  record(operation: OperationName, seconds: number, nowMs: number): void {
    let micros = Math.round(seconds * 1e6);
    if (!(micros >= 0)) return;
    if (micros > MAX_MICROS) micros = MAX_MICROS;
    this.window(operation).slice(this.epoch(nowMs)).histogram.recordValue(micros);
  }

  /** Counts an attempt abandoned at the timeout in force (not a latency sample). */
  recordTimeout(operation: OperationName, nowMs: number): void {
    this.window(operation).slice(this.epoch(nowMs)).timeouts++;
  }

  /** p50/p95/p99 (seconds) of the completed attempts of the last window (merged on read). */
  percentiles(operation: OperationName, nowMs: number): LatencyPercentiles {
    const w = this.windows.get(operation);
    if (!w) return { p50: null, p95: null, p99: null, count: 0 };
    const now = this.epoch(nowMs);
    const m = this.merged;
    m.reset();
    for (const s of w.slices) {
      if (s.epoch > now - SLICES && s.epoch <= now && s.histogram.totalCount > 0) m.add(s.histogram);
    }
    const count = m.totalCount;
    if (count === 0) return { p50: null, p95: null, p99: null, count: 0 };
    return {
      p50: m.getValueAtPercentile(50) / 1e6,
      p95: m.getValueAtPercentile(95) / 1e6,
      p99: m.getValueAtPercentile(99) / 1e6,
      count,
    };
  }

  /**
   * Timeouts against completions over the current and previous slice (30–60 s by default): a
   * short look-back, so a general slowdown is noticed within seconds, not after a whole window.
   */
  recentTimeouts(operation: OperationName, nowMs: number): RecentTimeouts {
    const w = this.windows.get(operation);
    if (!w) return { timeouts: 0, completed: 0 };
    const now = this.epoch(nowMs);
    let timeouts = 0;
    let completed = 0;
    for (const s of w.slices) {
      if (s.epoch === now || s.epoch === now - 1) {
        timeouts += s.timeouts;
        completed += s.histogram.totalCount;
      }
    }
    return { timeouts, completed };
  }

  private epoch(nowMs: number): number {
    return Math.floor(nowMs / this.sliceMs);
  }

  private window(operation: OperationName): OperationWindow {
    let w = this.windows.get(operation);
    if (!w) {
      w = new OperationWindow();
      this.windows.set(operation, w);
    }
    return w;
  }
}
