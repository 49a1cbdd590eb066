// Hot-path access to the proxy's metrics. prom-client's labels() hashes its arguments on every
// call; here each label combination's child is looked up once and kept.

import type { Counter, Histogram } from 'prom-client';
import { AttemptOutcome, EXEMPLAR_ID_MAX, MetricsService } from '../metrics/metrics.service';

type Inc = { inc(v?: number): void };
type Obs = { observe(v: number): void };
type Set = { set(v: number): void };

/** X-ratelimit-window values FRS documents (minute, hour, day), in seconds; a number is taken as seconds. */
const WINDOW_SECONDS: Readonly<Record<string, number>> = { minute: 60, hour: 3600, day: 86_400 };

export class ProxyMetrics {
  private readonly requests = new Map<string, Inc>();
  private readonly billables = new Map<string, Inc>();
  private readonly attempts = new Map<string, Inc>();
  private readonly possibly = new Map<string, Inc>();
  private readonly overflows = new Map<string, Inc>();
  private readonly requestDurations = new Map<string, DurationChild>();
  /** The request-duration bucket bounds; index `length` is +Inf. */
  private readonly bounds: readonly number[];
  private readonly upstreamDurations = new Map<string, Obs>();
  private readonly overheads = new Map<string, Obs>();
  private readonly rateLimits = new Map<string, [Set, Set, Set]>();

  constructor(private readonly metrics: MetricsService) {
    this.bounds = (metrics.requestDuration as unknown as { upperBounds: number[] }).upperBounds;
  }

  private duration(operation: string, outcome: string): DurationChild {
    const key = `${operation}\u0000${outcome}`;
    let d = this.requestDurations.get(key);
    if (d === undefined) {
      d = { labels: { operation, outcome }, child: this.metrics.requestDuration.labels(operation, outcome), refreshed: new Float64Array(this.bounds.length + 1).fill(-Infinity) };
      this.requestDurations.set(key, d);
    }
    return d;
  }

  /** `requestId` (FRS's X-Request-Id, else ours) becomes the duration bucket's exemplar. */
  request(app: string, operation: string, status: number, errorCode: string, outcome: AttemptOutcome, seconds: number, upstreamSeconds: number, requestId?: string): void {
    const code = String(status);
    child(this.requests, `${app}\u0000${operation}\u0000${code}\u0000${errorCode}`, this.metrics.requests, [app, operation, code, errorCode]).inc();
    const d = this.duration(operation, outcome);
    // The exemplar of a bucket is refreshed at most once a second (a scrape keeps only the latest
    // one anyway), so most calls pay for a bucket lookup only. Ids too long for an exemplar (a
    // client may send any X-Request-Id) are observed without one.
    let b = 0;
    while (b < this.bounds.length && seconds > this.bounds[b]) b++;
    const now = requestId !== undefined && requestId.length <= EXEMPLAR_ID_MAX ? Date.now() : undefined;
    if (now !== undefined && now - d.refreshed[b] >= EXEMPLAR_REFRESH_MS) {
      d.refreshed[b] = now;
      this.metrics.requestDuration.observe({ labels: d.labels, value: seconds, exemplarLabels: { request_id: requestId } as unknown as typeof d.labels });
    } else {
      d.child.observe(seconds);
    }
    child(this.overheads, operation, this.metrics.proxyOverhead, [operation]).observe(Math.max(0, seconds - upstreamSeconds));
  }

  attempt(operation: string, outcome: AttemptOutcome, seconds: number): void {
    child(this.attempts, `${operation}\u0000${outcome}`, this.metrics.upstreamAttempts, [operation, outcome]).inc();
    child(this.upstreamDurations, operation, this.metrics.upstreamDuration, [operation]).observe(seconds);
  }

  /** FRS's rate-limit headers, when an answer carries them; values that are not numbers are skipped. */
  rateLimit(operation: string, headers: Record<string, string | string[] | undefined>): void {
    const limit = headers['x-ratelimit'];
    const used = headers['x-ratelimit-used'];
    const window = headers['x-ratelimit-window'];
    if (limit === undefined && used === undefined && window === undefined) return;
    let g = this.rateLimits.get(operation);
    if (g === undefined) {
      g = [this.metrics.upstreamRateLimit.labels(operation), this.metrics.upstreamRateLimitUsed.labels(operation), this.metrics.upstreamRateLimitWindow.labels(operation)];
      this.rateLimits.set(operation, g);
    }
    const n = (v: string | string[] | undefined): number => (typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN);
    const l = n(limit);
    const u = n(used);
    const w = typeof window === 'string' ? (WINDOW_SECONDS[window.trim().toLowerCase()] ?? n(window)) : NaN;
    if (Number.isFinite(l)) g[0].set(l);
    if (Number.isFinite(u)) g[1].set(u);
    if (Number.isFinite(w)) g[2].set(w);
  }

  /** An attempt FRS may have billed although no answer came (issue 10). */
  possiblyBilled(operation: string): void {
    child(this.possibly, operation, this.metrics.possiblyBilled, [operation]).inc();
  }

  /** A valid call over the QPS package's rate in its sliding second. */
  qpsOverflow(operation: string): void {
    child(this.overflows, operation, this.metrics.qpsOverflow, [operation]).inc();
  }

  billable(app: string, operation: string): void {
    child(this.billables, `${app}\u0000${operation}`, this.metrics.billableCalls, [app, operation]).inc();
  }
}

const EXEMPLAR_REFRESH_MS = 1000;

interface DurationChild {
  readonly labels: { operation: string; outcome: string };
  readonly child: Obs;
  /** When each bucket's exemplar was last set (Date.now(); -Infinity: never). */
  readonly refreshed: Float64Array;
}

function child<T>(cache: Map<string, T>, key: string, metric: Counter<string> | Histogram<string>, labels: string[]): T {
  let c = cache.get(key);
  if (c === undefined) {
    c = (metric as unknown as { labels(...v: string[]): T }).labels(...labels);
    cache.set(key, c);
  }
  return c;
}
