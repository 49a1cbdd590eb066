// Hot-path access to the proxy's metrics. prom-client's labels() hashes its arguments on every
// call; here each label combination's child is looked up once and kept.

import type { Counter, Histogram } from 'prom-client';
import { AttemptOutcome, MetricsService } from '../metrics/metrics.service';

type Inc = { inc(v?: number): void };
type Obs = { observe(v: number): void };

export class ProxyMetrics {
  private readonly requests = new Map<string, Inc>();
  private readonly billables = new Map<string, Inc>();
  private readonly attempts = new Map<string, Inc>();
  private readonly requestDurations = new Map<string, Obs>();
  private readonly upstreamDurations = new Map<string, Obs>();
  private readonly overheads = new Map<string, Obs>();

  constructor(private readonly metrics: MetricsService) {}

  request(app: string, operation: string, status: number, errorCode: string, outcome: AttemptOutcome, seconds: number, upstreamSeconds: number): void {
    const code = String(status);
    child(this.requests, `${app}\u0000${operation}\u0000${code}\u0000${errorCode}`, this.metrics.requests, [app, operation, code, errorCode]).inc();
    child(this.requestDurations, `${operation}\u0000${outcome}`, this.metrics.requestDuration, [operation, outcome]).observe(seconds);
    child(this.overheads, operation, this.metrics.proxyOverhead, [operation]).observe(Math.max(0, seconds - upstreamSeconds));
  }

  attempt(operation: string, outcome: AttemptOutcome, seconds: number): void {
    child(this.attempts, `${operation}\u0000${outcome}`, this.metrics.upstreamAttempts, [operation, outcome]).inc();
    child(this.upstreamDurations, operation, this.metrics.upstreamDuration, [operation]).observe(seconds);
  }

  billable(app: string, operation: string): void {
    child(this.billables, `${app}\u0000${operation}`, this.metrics.billableCalls, [app, operation]).inc();
  }
}

function child<T>(cache: Map<string, T>, key: string, metric: Counter<string> | Histogram<string>, labels: string[]): T {
  let c = cache.get(key);
  if (c === undefined) {
    c = (metric as unknown as { labels(...v: string[]): T }).labels(...labels);
    cache.set(key, c);
  }
  return c;
}
