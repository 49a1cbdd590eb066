import { DEFAULT_DURATION_BUCKETS } from '../config/config';
import { ManualClock } from '../common/clock';
import { MetricsService } from '../metrics/metrics.service';
import { LatencyTracker, SLICES } from './latency-tracker';

const WINDOW_S = 300;
const config = { timeouts: { multiplier: 2, minSeconds: 0.25, maxSeconds: 30, minSamples: 50, windowSeconds: WINDOW_S } };
const SLICE_MS = (WINDOW_S * 1000) / SLICES;
const T0 = Date.UTC(2025, 0, 1);

describe('LatencyTracker', () => {
  it('reports p50/p95/p99 of what was recorded, in seconds, within 1 %', () => {
    const t = new LatencyTracker(config);
    // 1..1000 ms, each once: p50 = 0.5 s, p95 = 0.95 s, p99 = 0.99 s.
    for (let ms = 1; ms <= 1000; ms++) t.record('face_detect', ms / 1000, T0);
    const p = t.percentiles('face_detect', T0);
    expect(p.count).toBe(1000);
    expect(p.p50).toBeCloseTo(0.5, 2);
    expect(Math.abs((p.p95 as number) - 0.95) / 0.95).toBeLessThan(0.01);
    expect(Math.abs((p.p99 as number) - 0.99) / 0.99).toBeLessThan(0.01);
  });

  it('answers nulls and 0 for an operation without samples, and keeps operations apart', () => {
    const t = new LatencyTracker(config);
    expect(t.percentiles('face_detect', T0)).toEqual({ p50: null, p95: null, p99: null, count: 0 });
    t.record('live_detect', 2, T0);
    expect(t.percentiles('face_detect', T0).count).toBe(0);
    expect(t.percentiles('live_detect', T0)).toMatchObject({ count: 1 });
    expect(t.percentiles('live_detect', T0).p99).toBeCloseTo(2, 1);
  });

  it('forgets samples once they leave the window, slice by slice', () => {
    const t = new LatencyTracker(config);
    const start = Math.floor(T0 / SLICE_MS) * SLICE_MS; // start of a slice
    for (let i = 0; i < 100; i++) t.record('face_detect', 1, start);
    for (let i = 0; i < 100; i++) t.record('face_detect', 0.1, start + 5 * SLICE_MS);
    expect(t.percentiles('face_detect', start + 5 * SLICE_MS).count).toBe(200);
    // Last moment the first slice is still inside the window.
    expect(t.percentiles('face_detect', start + SLICES * SLICE_MS - 1).count).toBe(200);
    // One slice later the 1 s samples are gone and the p99 follows the recent ones.
    const later = t.percentiles('face_detect', start + SLICES * SLICE_MS);
    expect(later.count).toBe(100);
    expect(later.p99).toBeCloseTo(0.1, 2);
    expect(t.percentiles('face_detect', start + 20 * SLICE_MS).count).toBe(0);
  });

  it('keeps memory bounded: a slice reused for a new interval starts empty', () => {
    const t = new LatencyTracker(config);
    for (let s = 0; s < 50 * SLICES; s++) {
      for (let i = 0; i < 10; i++) t.record('face_detect', 0.05, T0 + s * SLICE_MS);
    }
    expect(t.percentiles('face_detect', T0 + (50 * SLICES - 1) * SLICE_MS).count).toBe(10 * SLICES);
  });

  it('clamps absurd values and ignores ones that are not durations', () => {
    const t = new LatencyTracker(config);
    t.record('face_detect', 10_000, T0);
    t.record('face_detect', -1, T0);
    t.record('face_detect', Number.NaN, T0);
    const p = t.percentiles('face_detect', T0);
    expect(p.count).toBe(1);
    expect(p.p99).toBeCloseTo(600, -1);
  });

  it('counts timeouts apart from latency samples, over the current and previous slice', () => {
    const t = new LatencyTracker(config);
    const start = Math.floor(T0 / SLICE_MS) * SLICE_MS;
    for (let i = 0; i < 40; i++) t.record('face_detect', 0.1, start);
    t.recordTimeout('face_detect', start);
    t.recordTimeout('face_detect', start + SLICE_MS);
    expect(t.percentiles('face_detect', start + SLICE_MS).count).toBe(40);
    expect(t.recentTimeouts('face_detect', start + SLICE_MS)).toEqual({ timeouts: 2, completed: 40 });
    expect(t.recentTimeouts('face_detect', start + 2 * SLICE_MS)).toEqual({ timeouts: 1, completed: 0 });
    expect(t.recentTimeouts('face_add', start)).toEqual({ timeouts: 0, completed: 0 });
  });

  it('exposes frs_latency_p99_seconds at scrape time, only for operations with samples', async () => {
    const metrics = new MetricsService({ metrics: { durationBuckets: DEFAULT_DURATION_BUCKETS } });
    const clock = new ManualClock(T0, { frozen: true });
    const t = new LatencyTracker(config, metrics, clock);
    for (let i = 0; i < 100; i++) t.record('face_detect', 0.3, T0);
    const body = (await metrics.scrape()).body;
    const line = body.split('\n').find((l) => l.startsWith('frs_latency_p99_seconds{operation="face_detect"}'));
    expect(Number(line?.split(' ')[1])).toBeCloseTo(0.3, 2);
    expect(body).not.toContain('frs_latency_p99_seconds{operation="face_add"}');
  });

  it('records in well under a microsecond on average (hot path)', () => {
    const t = new LatencyTracker(config);
    const n = 200_000;
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) t.record('face_detect', 0.05 + (i % 100) / 1000, T0 + i);
    const nsPer = Number(process.hrtime.bigint() - start) / n;
    // Generous bound for slow CI machines; measured ~0.2–0.4 µs.
    expect(nsPer).toBeLessThan(5_000);
    expect(t.percentiles('face_detect', T0 + n).count).toBe(n);
  });
});
