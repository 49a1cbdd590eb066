// Hot-path access to the proxy's metrics. prom-client hashes the label values on every call, even
// through a labels() child, and the keys that find a child would be strings built per call; both
// allocate on every request. Here each label combination is found through nested Maps keyed by
// the values themselves (no string is built), counters are plain numbers handed to prom-client
// when /metrics is scraped (MetricsService.onCollect), and histograms observe through a child
// looked up once.

import type { Counter, Histogram } from 'prom-client';
import { AttemptOutcome, EXEMPLAR_ID_MAX, MetricsService } from '../metrics/metrics.service';
import { findIn as find, insertIn as insert, KeyPart, KeyTree as Tree } from '../common/key-tree';

type Inc = { inc(v?: number): void };
type Obs = { observe(v: number): void };
type Set = { set(v: number): void };

/** X-ratelimit-window values FRS documents (minute, hour, day), in seconds; a number is taken as seconds. */
const WINDOW_SECONDS: Readonly<Record<string, number>> = { minute: 60, hour: 3600, day: 86_400 };

/** A counter's increments since the last scrape, for one label combination. */
class Cell {
  n = 0;

  constructor(readonly child: Inc) {}
}

export class ProxyMetrics {
  private readonly requests: Tree<Cell> = new Map();
  private readonly billables: Tree<Cell> = new Map();
  private readonly attempts: Tree<Cell> = new Map();
  private readonly possibly: Tree<Cell> = new Map();
  private readonly overflows: Tree<Cell> = new Map();
  /** Every cell, for the scrape-time hand-over. */
  private readonly cells: Cell[] = [];
  private readonly requestDurations: Tree<DurationChild> = new Map();
  /** The request-duration bucket bounds; index `length` is +Inf. */
  private readonly bounds: readonly number[];
  private readonly upstreamDurations: Tree<Obs> = new Map();
  private readonly overheads: Tree<Obs> = new Map();
  private readonly rateLimits = new Map<string, [Set, Set, Set]>();
  /** Reused key lists (the hot path is synchronous, so one of each is enough). */
  private readonly k1: [KeyPart] = [''];
  private readonly k2: [KeyPart, KeyPart] = ['', ''];
  private readonly k4: [KeyPart, KeyPart, KeyPart, KeyPart] = ['', '', '', ''];

  constructor(private readonly metrics: MetricsService) {
    this.bounds = (metrics.requestDuration as unknown as { upperBounds: number[] }).upperBounds;
    metrics.onCollect(() => this.flush());
  }

  /** Hands the counted increments to prom-client (run at every scrape). */
  flush(): void {
    for (const c of this.cells) {
      if (c.n !== 0) {
        c.child.inc(c.n);
        c.n = 0;
      }
    }
  }

  private cell(tree: Tree<Cell>, keys: readonly KeyPart[], metric: Counter<string>): Cell {
    const found = find(tree, keys);
    if (found !== undefined) return found;
    const c = new Cell((metric as unknown as { labels(...v: string[]): Inc }).labels(...keys.map(String)));
    this.cells.push(c);
    return insert(tree, keys, c);
  }

  private observer(tree: Tree<Obs>, operation: string, metric: Histogram<string>): Obs {
    const k = this.k1;
    k[0] = operation;
    return find(tree, k) ?? insert(tree, k, metric.labels(operation));
  }

  private duration(operation: string, outcome: string): DurationChild {
    const k = this.k2;
    k[0] = operation;
    k[1] = outcome;
    return (
      find(this.requestDurations, k) ??
      insert(this.requestDurations, k, {
        labels: { operation, outcome },
        child: this.metrics.requestDuration.labels(operation, outcome),
        refreshed: new Float64Array(this.bounds.length + 1).fill(-Infinity),
      })
    );
  }

  /** `requestId` (FRS's X-Request-Id, else ours) becomes the duration bucket's exemplar. */
  request(app: string, operation: string, status: number, errorCode: string, outcome: AttemptOutcome, seconds: number, upstreamSeconds: number, requestId?: string): void {
    const k = this.k4;
    k[0] = app;
    k[1] = operation;
    k[2] = status;
    k[3] = errorCode;
    this.cell(this.requests, k, this.metrics.requests).n++;
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
    this.observer(this.overheads, operation, this.metrics.proxyOverhead).observe(Math.max(0, seconds - upstreamSeconds));
  }

  attempt(operation: string, outcome: AttemptOutcome, seconds: number): void {
    const k = this.k2;
    k[0] = operation;
    k[1] = outcome;
    this.cell(this.attempts, k, this.metrics.upstreamAttempts).n++;
    this.observer(this.upstreamDurations, operation, this.metrics.upstreamDuration).observe(seconds);
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
    const k = this.k1;
    k[0] = operation;
    this.cell(this.possibly, k, this.metrics.possiblyBilled).n++;
  }

  /** A valid call over the QPS package's rate in its sliding second. */
  qpsOverflow(operation: string): void {
    const k = this.k1;
    k[0] = operation;
    this.cell(this.overflows, k, this.metrics.qpsOverflow).n++;
  }

  billable(app: string, operation: string): void {
    const k = this.k2;
    k[0] = app;
    k[1] = operation;
    this.cell(this.billables, k, this.metrics.billableCalls).n++;
  }
}

const EXEMPLAR_REFRESH_MS = 1000;

interface DurationChild {
  readonly labels: { operation: string; outcome: string };
  readonly child: Obs;
  /** When each bucket's exemplar was last set (Date.now(); -Infinity: never). */
  readonly refreshed: Float64Array;
}
