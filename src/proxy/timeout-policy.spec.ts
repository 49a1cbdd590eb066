import { DEFAULT_DURATION_BUCKETS } from '../config/config';
import { ManualClock } from '../common/clock';
import { MetricsService } from '../metrics/metrics.service';
import { OperationName } from '../frs/operations';
import { LatencyTracker, SLICES } from './latency-tracker';
import { RetryPolicy } from './retry-policy';
import { TimeoutPolicy, TIMEOUT_CACHE_MS } from './timeout-policy';

const timeouts = { multiplier: 2, minSeconds: 0.25, maxSeconds: 30, minSamples: 50, windowSeconds: 300 };
const retry = { maxAttempts: 2, budgetRatio: 0.1, budgetMinPerMinute: 10, backoffBaseMs: 50, backoffMaxMs: 1000 };
const SLICE_MS = (timeouts.windowSeconds * 1000) / SLICES;
// Start of a slice, so "recent" slices are predictable.
const T0 = Math.floor(Date.UTC(2025, 0, 1) / SLICE_MS) * SLICE_MS;

function setup(overrides: Partial<typeof timeouts> = {}) {
  const config = { timeouts: { ...timeouts, ...overrides } };
  const latency = new LatencyTracker(config);
  const policy = new TimeoutPolicy(config, latency);
  return { latency, policy };
}

function feed(latency: LatencyTracker, op: OperationName, seconds: number, n: number, now = T0): void {
  for (let i = 0; i < n; i++) latency.record(op, seconds, now);
}

/** Within the histogram's 1 % resolution. */
function near(actual: number, expected: number): boolean {
  return Math.abs(actual - expected) <= expected * 0.01;
}

describe('TimeoutPolicy', () => {
  it("uses the catalogue's per-operation default until minSamples attempts were measured", () => {
    const { latency, policy } = setup();
    expect(policy.inForce('face_detect', T0)).toEqual({ ms: 5000, source: 'default', reason: 'too_few_samples' });
    // Liveness on video is slower than detection.
    expect(policy.timeoutMs('live_detect', T0)).toBe(15_000);
    feed(latency, 'face_detect', 0.3, 49);
    expect(policy.timeoutMs('face_detect', T0 + TIMEOUT_CACHE_MS)).toBe(5000);
  });

  it('clamps the default too', () => {
    const { policy } = setup({ maxSeconds: 10 });
    expect(policy.timeoutMs('live_detect', T0)).toBe(10_000);
  });

  it('is multiplier × p99 once enough samples exist (p99 300 ms → 600 ms)', () => {
    const { latency, policy } = setup();
    feed(latency, 'face_detect', 0.1, 950);
    feed(latency, 'face_detect', 0.3, 50);
    const t = policy.inForce('face_detect', T0);
    expect(t.source).toBe('p99');
    expect(Math.abs(t.ms - 600) / 600).toBeLessThan(0.01);
  });

  it('clamps to [minSeconds, maxSeconds]', () => {
    const { latency, policy } = setup();
    feed(latency, 'face_detect', 0.02, 100);
    expect(policy.inForce('face_detect', T0)).toEqual({ ms: 250, source: 'p99' });
    feed(latency, 'live_detect', 25, 100);
    expect(policy.inForce('live_detect', T0)).toEqual({ ms: 30_000, source: 'p99' });
  });

  it('recomputes at most once per second (the hot path does not merge histograms per request)', () => {
    const { latency, policy } = setup();
    feed(latency, 'face_detect', 0.3, 100);
    const first = policy.timeoutMs('face_detect', T0);
    expect(near(first, 600)).toBe(true);
    feed(latency, 'face_detect', 1, 100);
    expect(policy.timeoutMs('face_detect', T0 + TIMEOUT_CACHE_MS - 1)).toBe(first);
    expect(near(policy.timeoutMs('face_detect', T0 + TIMEOUT_CACHE_MS), 2000)).toBe(true);
  });

  it('a few stalled attempts (2 %) do not move it; a surge of timeouts falls back to the default', () => {
    const { latency, policy } = setup();
    feed(latency, 'face_detect', 0.3, 490);
    for (let i = 0; i < 10; i++) latency.recordTimeout('face_detect', T0);
    expect(policy.inForce('face_detect', T0).source).toBe('p99');

    // FRS as a whole got slower than the timeout: most attempts are now cut.
    for (let i = 0; i < 100; i++) latency.recordTimeout('face_detect', T0 + SLICE_MS);
    expect(policy.inForce('face_detect', T0 + SLICE_MS)).toEqual({ ms: 5000, source: 'default', reason: 'timeouts_surge' });

    // Once slow answers were measured and the surge left the recent slices, the p99 rules again, higher.
    feed(latency, 'face_detect', 1.5, 200, T0 + 2 * SLICE_MS);
    const later = policy.inForce('face_detect', T0 + 3 * SLICE_MS);
    expect(later.source).toBe('p99');
    expect(near(later.ms, 3000)).toBe(true);
  });

  it('one timeout on a quiet operation is not a surge', () => {
    const { latency, policy } = setup();
    feed(latency, 'face_detect', 0.3, 50, T0 - SLICES * SLICE_MS + SLICE_MS);
    for (let i = 0; i < 4; i++) latency.recordTimeout('face_detect', T0);
    expect(policy.inForce('face_detect', T0).source).toBe('p99');
  });

  it('exposes frs_upstream_timeout_seconds for every operation at scrape time', async () => {
    const metrics = new MetricsService({ metrics: { durationBuckets: DEFAULT_DURATION_BUCKETS } });
    const clock = new ManualClock(T0, { frozen: true });
    const config = { timeouts };
    const latency = new LatencyTracker(config, metrics, clock);
    new TimeoutPolicy(config, latency, metrics, clock);
    feed(latency, 'face_detect', 0.3, 100);
    const body = (await metrics.scrape()).body;
    const value = (op: string) => Number(body.split('\n').find((l) => l.startsWith(`frs_upstream_timeout_seconds{operation="${op}"}`))?.split(' ')[1]);
    expect(value('face_detect')).toBeCloseTo(0.6, 2);
    expect(value('live_detect')).toBe(15);
    expect(value('unknown')).toBe(10);
  });

  it('reports per operation what GET /admin/timeouts shows, with the recommended client timeout', () => {
    const { latency, policy } = setup();
    feed(latency, 'face_detect', 0.3, 100);
    feed(latency, 'face_add', 0.3, 100);
    const rows = policy.report(T0, new RetryPolicy({ retry }));
    expect(rows).toHaveLength(16);
    const detect = rows.find((r) => r.operation === 'face_detect');
    expect(detect).toMatchObject({ samples: 100, timeout_source: 'p99', max_attempts: 2 });
    expect(detect?.p99_seconds).toBeCloseTo(0.3, 2);
    expect(detect?.timeout_seconds).toBeCloseTo(0.6, 2);
    // Two attempts of ~0.6 s, the longest backoff between them (1 s after a throttled answer), 0.5 s margin.
    const t = detect?.timeout_seconds as number;
    expect(detect?.recommended_client_timeout_seconds).toBe(Math.ceil((2 * t + 1 + 0.5) * 10) / 10);
    expect(detect?.recommended_client_timeout_seconds).toBeGreaterThanOrEqual(2.7);
    expect(detect?.recommended_client_timeout_seconds).toBeLessThanOrEqual(2.8);
    // face_add is never retried: one attempt plus the margin.
    expect(rows.find((r) => r.operation === 'face_add')).toMatchObject({ max_attempts: 1, recommended_client_timeout_seconds: Math.ceil((t + 0.5) * 10) / 10 });
    expect(rows.find((r) => r.operation === 'live_detect')).toEqual({
      operation: 'live_detect',
      p50_seconds: null,
      p95_seconds: null,
      p99_seconds: null,
      samples: 0,
      timeout_seconds: 15,
      timeout_source: 'default',
      max_attempts: 2,
      recommended_client_timeout_seconds: 31.5,
    });
  });
});
