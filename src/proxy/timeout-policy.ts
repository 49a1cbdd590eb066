// The upstream timeout in force per operation, derived from the observed p99, as Huawei's FAQ
// asks every client to do by hand: measure the 99th percentile, time out a little above it and
// retry. A stalled attempt is then abandoned after about twice a normal slow answer and its retry
// usually lands well before a fixed multi-second timeout would even fire.
//
// Why the defaults (config.ts, FRS_METER_TIMEOUT_*):
// - multiplier 2: FRS latencies are heavy-tailed (lognormal-like); for such a tail 2 × p99 sits
//   around the 99.87th (σ = 1) to 99.98th percentile (the emulator's detect model: median 80 ms,
//   p99 300 ms), so a timeout cuts about 1 healthy attempt in 1,000–5,000 (each retried, inside
//   the retry budget), while a stall is cut at 2 × p99: with a
//   normal p99 of ~300 ms, 0.6 s, and the retry usually answers within ~1 s in total.
//   A multiplier below ~1.5 starts cutting healthy slow answers by the percent.
// - min 0.25 s: below that, connection set-up and TLS on a fresh socket (tens of ms, more across
//   regions) and GC pauses would turn ordinary jitter into timeouts for very fast operations.
// - max 30 s: an attempt is never held longer; action liveness on a 15 s video is the slowest
//   FRS call and normally answers in seconds.
// - minSamples 50: a p99 from fewer samples is one or two outliers; until then the catalogue's
//   per-operation default (detect 5 s, liveness on video 15 s) applies.
// - window 300 s: long enough for a p99 over quiet operations, short enough to follow a real
//   change of FRS speed within minutes.

import { Config } from '../config/config';
import { OPERATIONS, OPERATION_BY_NAME, OperationName } from '../frs/operations';
import { MetricsService } from '../metrics/metrics.service';
import { Clock } from '../common/clock';
import { LatencyPercentiles, LatencyTracker } from './latency-tracker';
import type { RetryPolicy } from './retry-policy';

export type TimeoutSource = 'p99' | 'default';

export interface TimeoutInForce {
  readonly ms: number;
  readonly source: TimeoutSource;
  /** Why the default applies instead of the p99 (none when source is 'p99'). */
  readonly reason?: 'too_few_samples' | 'timeouts_surge';
}

/** How long a computed timeout is reused, so the hot path does not merge histograms per request. */
export const TIMEOUT_CACHE_MS = 1_000;

/**
 * Guard against a timeout that lags a real slowdown: only completed attempts are samples, so if
 * FRS as a whole becomes slower than the timeout, every attempt is cut, no slow sample is ever
 * recorded and the p99 would stay low for a whole window (an outage of our own making). When
 * more than this share of recent attempts hit the timeout — far above the ~0.1 % a 2 × p99
 * timeout cuts, and above any stall share we mean to cut quickly (2 % in the acceptance test) —
 * the per-operation default applies until slow answers have been measured.
 */
export const TIMEOUT_SURGE_SHARE = 0.1;
/** ...and at least this many timeouts, so one stall on a quiet operation does not count as a surge. */
export const TIMEOUT_SURGE_MIN = 5;

/** Added to the recommended client timeout for our own overhead, queueing and network to the client. */
export const CLIENT_TIMEOUT_MARGIN_SECONDS = 0.5;

export interface TimeoutReportRow {
  operation: OperationName;
  p50_seconds: number | null;
  p95_seconds: number | null;
  p99_seconds: number | null;
  samples: number;
  timeout_seconds: number;
  timeout_source: TimeoutSource;
  max_attempts: number;
  recommended_client_timeout_seconds: number;
}

export const TIMEOUT_REPORT_COLUMNS: readonly (keyof TimeoutReportRow)[] = [
  'operation',
  'p50_seconds',
  'p95_seconds',
  'p99_seconds',
  'samples',
  'timeout_seconds',
  'timeout_source',
  'max_attempts',
  'recommended_client_timeout_seconds',
];

interface Cached {
  untilMs: number;
  value: TimeoutInForce;
}

export class TimeoutPolicy {
  private readonly cache = new Map<OperationName, Cached>();

  constructor(
    private readonly config: Pick<Config, 'timeouts'>,
    private readonly latency: LatencyTracker,
    metrics?: MetricsService,
    clock?: Clock,
  ) {
    if (metrics && clock) {
      metrics.onCollect(() => {
        const now = clock.now();
        for (const { name } of OPERATIONS) metrics.upstreamTimeout.labels(name).set(this.inForce(name, now).ms / 1000);
      });
    }
  }

  /** Hot path: the upstream timeout (ms) for one attempt of `operation`; recomputed at most once a second. */
  timeoutMs(operation: OperationName, nowMs: number): number {
    return this.inForce(operation, nowMs).ms;
  }

  /** The timeout in force and where it comes from (cached like `timeoutMs`). */
  inForce(operation: OperationName, nowMs: number): TimeoutInForce {
    const c = this.cache.get(operation);
    if (c && nowMs < c.untilMs && nowMs >= c.untilMs - TIMEOUT_CACHE_MS) return c.value;
    const value = this.compute(operation, this.latency.percentiles(operation, nowMs), nowMs);
    this.cache.set(operation, { untilMs: nowMs + TIMEOUT_CACHE_MS, value });
    return value;
  }

  /** Per operation: rolling percentiles, timeout in force and what a client should set (GET /admin/timeouts). */
  report(nowMs: number, retry: RetryPolicy): TimeoutReportRow[] {
    return OPERATIONS.map(({ name }) => {
      const p = this.latency.percentiles(name, nowMs);
      const t = this.compute(name, p, nowMs);
      const maxAttempts = retry.maxAttempts(OPERATION_BY_NAME[name]);
      return {
        operation: name,
        p50_seconds: roundSeconds(p.p50),
        p95_seconds: roundSeconds(p.p95),
        p99_seconds: roundSeconds(p.p99),
        samples: p.count,
        timeout_seconds: t.ms / 1000,
        timeout_source: t.source,
        max_attempts: maxAttempts,
        recommended_client_timeout_seconds: recommendedClientTimeoutSeconds(t.ms, maxAttempts, retry),
      };
    });
  }

  private compute(operation: OperationName, p: LatencyPercentiles, nowMs: number): TimeoutInForce {
    const { multiplier, minSeconds, maxSeconds, minSamples } = this.config.timeouts;
    const clampMs = (s: number) => Math.round(Math.min(maxSeconds, Math.max(minSeconds, s)) * 1000);
    const fallback = clampMs(OPERATION_BY_NAME[operation].defaultTimeoutSeconds);
    if (p.p99 === null || p.count < minSamples) return { ms: fallback, source: 'default', reason: 'too_few_samples' };
    const recent = this.latency.recentTimeouts(operation, nowMs);
    if (recent.timeouts >= TIMEOUT_SURGE_MIN && recent.timeouts > TIMEOUT_SURGE_SHARE * (recent.timeouts + recent.completed)) {
      return { ms: Math.max(fallback, clampMs(multiplier * p.p99)), source: 'default', reason: 'timeouts_surge' };
    }
    return { ms: clampMs(multiplier * p.p99), source: 'p99' };
  }
}

/**
 * What an application should set as its own timeout so every attempt we may make, and the
 * longest backoff between them, fit inside it: otherwise the client gives up (and perhaps
 * retries on its own, doubling the load) while our retry is about to succeed. An extra attempt
 * after an upstream token refresh (once per token lifetime) is not included.
 */
export function recommendedClientTimeoutSeconds(timeoutMs: number, maxAttempts: number, retry: RetryPolicy): number {
  let ms = timeoutMs * maxAttempts;
  for (let attempt = 1; attempt < maxAttempts; attempt++) ms += retry.maxBackoffMs(attempt, 'throttled');
  return Math.ceil((ms / 1000 + CLIENT_TIMEOUT_MARGIN_SECONDS) * 10) / 10;
}

function roundSeconds(s: number | null): number | null {
  return s === null ? null : Math.round(s * 1e6) / 1e6;
}
