// Every metric frs-meter exposes, defined in this one place (SPEC §6: names and labels are a
// contract). Values that live elsewhere (database totals, package state, pool stats) are read at
// scrape time through `onCollect` callbacks instead of being pushed from the hot path.

import { Counter, Gauge, Histogram, Registry, RegistryContentType, collectDefaultMetrics } from 'prom-client';
import { Config } from '../config/config';
import { ERROR_CODE_LABELS } from '../frs/error-codes';
import { BILLABLE_OPERATION_NAMES, OPERATIONS, OperationName } from '../frs/operations';

export const ATTEMPT_OUTCOMES = ['success', 'client_error', 'server_error', 'throttled', 'timeout', 'connection_error'] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

/** Label value for calls without valid app credentials. */
export const UNAUTHENTICATED_APP = 'unauthenticated';

const OPERATION_LABELS = OPERATIONS.map((o) => o.name);

type Collector = () => void | Promise<void>;

export class MetricsService {
  // OpenMetrics at rest: prom-client only accepts exemplar histograms on such a registry; the
  // classic format is switched to for the scrapes that ask for it.
  readonly registry = openMetricsRegistry();
  private readonly collectors: Collector[] = [];

  readonly requests: Counter<'app' | 'operation' | 'code' | 'error_code'>;
  readonly upstreamAttempts: Counter<'operation' | 'outcome'>;
  readonly billableCalls: Counter<'app' | 'operation'>;
  readonly requestDuration: Histogram<'operation' | 'outcome'>;
  readonly upstreamDuration: Histogram<'operation'>;
  readonly proxyOverhead: Histogram<'operation'>;
  readonly latencyP99: Gauge<'operation'>;
  readonly upstreamTimeout: Gauge<'operation'>;
  readonly monthBillableCalls: Gauge<'operation'>;
  readonly freeCallsRemaining: Gauge<'operation'>;
  readonly freeCallsTotal: Gauge<'operation'>;
  readonly monthEnd: Gauge;
  readonly qpsQuota: Gauge<'operation'>;
  readonly qpsPeak: Gauge<'operation'>;
  readonly qpsSaturation: Gauge<'operation'>;
  readonly qpsPackageExpiry: Gauge<'operation'>;
  readonly qpsShaped: Counter<'operation' | 'result'>;
  readonly qpsCoordinationReplicas: Gauge;
  readonly qpsReplicaShare: Gauge<'operation'>;
  readonly qpsCoordinationFallback: Counter<'operation'>;
  readonly budgetUsedRatio: Gauge<'app' | 'kind'>;
  readonly budgetRemaining: Gauge<'app' | 'kind'>;
  readonly budgetThresholdCrossed: Gauge<'app' | 'kind'>;
  readonly callPackageRemaining: Gauge<'package'>;
  readonly callPackageTotal: Gauge<'package'>;
  readonly callPackageExpiry: Gauge<'package'>;
  readonly callPackageExhaustion: Gauge<'package'>;
  readonly usagePendingEvents: Gauge;
  readonly usageLastFlush: Gauge;
  readonly billingLastSync: Gauge<'kind'>;
  readonly billingAmount: Gauge<'bill_cycle' | 'charging_mode'>;
  readonly billingMonthFinal: Gauge<'bill_cycle'>;
  readonly reconciliationDifference: Gauge<'bill_cycle' | 'operation'>;
  readonly reconciliationUnexplained: Gauge<'bill_cycle' | 'operation'>;
  readonly possiblyBilled: Counter<'operation'>;
  readonly qpsOverflow: Counter<'operation'>;
  readonly upstreamPool: Gauge<'state'>;
  readonly clientTimeouts: Counter<'phase'>;
  readonly forecastAmount: Gauge<'quantile'>;
  readonly forecastCalls: Gauge<'operation' | 'quantile'>;
  readonly upstreamRateLimit: Gauge<'operation'>;
  readonly upstreamRateLimitUsed: Gauge<'operation'>;
  readonly upstreamRateLimitWindow: Gauge<'operation'>;

  constructor(config: Pick<Config, 'metrics'>) {
    const registers = [this.registry];
    const buckets = [...config.metrics.durationBuckets];

    this.requests = new Counter({ name: 'frs_requests_total', help: 'Client requests answered, by app, operation, HTTP status sent to the client and error code', labelNames: ['app', 'operation', 'code', 'error_code'], registers });
    this.upstreamAttempts = new Counter({ name: 'frs_upstream_attempts_total', help: 'Upstream FRS attempts (retries included), by outcome', labelNames: ['operation', 'outcome'], registers });
    this.billableCalls = new Counter({ name: 'frs_billable_calls_total', help: 'Valid (billable) FRS calls: attempts of billable operations answered 2xx', labelNames: ['app', 'operation'], registers });
    // Exemplars carry the FRS request id of one call per bucket (OpenMetrics scrapes only), so a
    // p99 spike on a dashboard leads to the exact call to quote to Huawei support.
    this.requestDuration = new Histogram({ name: 'frs_request_duration_seconds', help: 'Request duration as the client sees it, retries included', labelNames: ['operation', 'outcome'], buckets, registers, enableExemplars: true });
    this.upstreamDuration = new Histogram({ name: 'frs_upstream_duration_seconds', help: 'Duration of one upstream attempt', labelNames: ['operation'], buckets, registers });
    this.proxyOverhead = new Histogram({
      name: 'frs_proxy_overhead_seconds',
      help: 'Client-seen time minus upstream time',
      labelNames: ['operation'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
    this.latencyP99 = new Gauge({ name: 'frs_latency_p99_seconds', help: "The proxy's rolling p99 of upstream attempts per operation", labelNames: ['operation'], registers });
    this.upstreamTimeout = new Gauge({ name: 'frs_upstream_timeout_seconds', help: 'Upstream timeout in force per operation', labelNames: ['operation'], registers });
    this.monthBillableCalls = new Gauge({ name: 'frs_month_billable_calls', help: 'Billable calls this billing month, from the database plus what is not yet flushed (all replicas)', labelNames: ['operation'], registers });
    this.freeCallsRemaining = new Gauge({ name: 'frs_free_calls_remaining', help: 'Free calls left this billing month', labelNames: ['operation'], registers });
    this.freeCallsTotal = new Gauge({ name: 'frs_free_calls_total', help: 'Free calls allowed per billing month', labelNames: ['operation'], registers });
    this.monthEnd = new Gauge({ name: 'frs_month_end_timestamp_seconds', help: 'End of the current billing month (unix seconds)', registers });
    this.qpsQuota = new Gauge({ name: 'frs_qps_quota', help: 'QPS quota in force: the QPS package, else the FRS default', labelNames: ['operation'], registers });
    this.qpsPeak = new Gauge({ name: 'frs_qps_peak', help: 'Highest 1-second count of upstream attempts in the last 60 s', labelNames: ['operation'], registers });
    this.qpsSaturation = new Gauge({ name: 'frs_qps_saturation_ratio', help: 'frs_qps_peak / frs_qps_quota', labelNames: ['operation'], registers });
    this.qpsPackageExpiry = new Gauge({ name: 'frs_qps_package_expiry_timestamp_seconds', help: 'Expiry of the QPS package in force (unix seconds)', labelNames: ['operation'], registers });
    this.qpsShaped = new Counter({ name: 'frs_qps_shaped_total', help: 'Calls over the shaped rate, by FRS_METER_QPS_OVERFLOW choice: delayed (waited for a free slot), rejected (METER.0429, never sent upstream) or passed (sent at once, billed on demand)', labelNames: ['operation', 'result'], registers });
    this.qpsCoordinationReplicas = new Gauge({ name: 'frs_qps_coordination_replicas', help: 'Live replicas sharing the QPS quota, as this replica last saw them (1 with FRS_METER_QPS_COORDINATION=local)', registers });
    this.qpsReplicaShare = new Gauge({ name: 'frs_qps_replica_share', help: "This replica's share of the QPS quota (postgres coordination, and redis coordination's fallback)", labelNames: ['operation'], registers });
    this.budgetUsedRatio = new Gauge({ name: 'frs_app_budget_used_ratio', help: "Share of the app's monthly budget used (metered), by kind: calls or amount", labelNames: ['app', 'kind'], registers });
    this.budgetRemaining = new Gauge({ name: 'frs_app_budget_remaining', help: "What is left of the app's monthly budget (metered): calls, or amount in the price table's currency", labelNames: ['app', 'kind'], registers });
    this.budgetThresholdCrossed = new Gauge({ name: 'frs_app_budget_threshold_crossed_ratio', help: "Highest of the budget's alert_thresholds the used ratio has reached (0: none)", labelNames: ['app', 'kind'], registers });
    this.qpsCoordinationFallback = new Counter({ name: 'frs_qps_coordination_fallback_calls_total', help: 'Calls shaped on the local share because Redis was unreachable (redis coordination)', labelNames: ['operation'], registers });
    this.callPackageRemaining = new Gauge({ name: 'frs_call_package_remaining_calls', help: 'Calls left in a call package', labelNames: ['package'], registers });
    this.callPackageTotal = new Gauge({ name: 'frs_call_package_total_calls', help: 'Size of a call package', labelNames: ['package'], registers });
    this.callPackageExpiry = new Gauge({ name: 'frs_call_package_expiry_timestamp_seconds', help: 'Expiry of a call package (unix seconds)', labelNames: ['package'], registers });
    this.callPackageExhaustion = new Gauge({ name: 'frs_call_package_exhaustion_timestamp_seconds', help: 'Forecast exhaustion of a call package from the recent burn rate (unix seconds; +Inf when not burning)', labelNames: ['package'], registers });
    this.usagePendingEvents = new Gauge({ name: 'frs_usage_pending_events', help: 'Usage events recorded but not yet in the database', registers });
    this.usageLastFlush = new Gauge({ name: 'frs_usage_last_flush_timestamp_seconds', help: 'Last successful usage flush (unix seconds)', registers });
    this.billingLastSync = new Gauge({ name: 'frs_billing_last_sync_timestamp_seconds', help: 'Last successful billing sync (unix seconds), by kind', labelNames: ['kind'], registers });
    this.billingAmount = new Gauge({ name: 'frs_billing_amount', help: 'Billed FRS amount per bill cycle and charging mode, in the bill currency', labelNames: ['bill_cycle', 'charging_mode'], registers });
    this.billingMonthFinal = new Gauge({ name: 'frs_billing_month_final', help: '1 when the stored bill month is final, 0 while provisional', labelNames: ['bill_cycle'], registers });
    this.reconciliationDifference = new Gauge({ name: 'frs_reconciliation_difference_calls', help: 'Metered minus billed calls per bill cycle and operation', labelNames: ['bill_cycle', 'operation'], registers });
    this.reconciliationUnexplained = new Gauge({ name: 'frs_reconciliation_unexplained_calls', help: 'The part of metered minus billed calls that no evidenced cause (QPS package, possibly-billed attempts, gateway timeouts, provisional lag) explains', labelNames: ['bill_cycle', 'operation'], registers });
    this.possiblyBilled = new Counter({ name: 'frs_possibly_billed_calls_total', help: "Attempts of billable operations cut at the proxy's timeout or with the connection lost after the request was sent: FRS may have completed and billed them", labelNames: ['operation'], registers });
    this.qpsOverflow = new Counter({ name: 'frs_qps_overflow_calls_total', help: "Valid calls over the QPS package's rate in their sliding 1-second window: not covered by the package, billed on demand", labelNames: ['operation'], registers });
    this.upstreamPool = new Gauge({ name: 'frs_upstream_pool_connections', help: 'Upstream connection pool state (read at scrape time)', labelNames: ['state'], registers });

    // FRS's X-ratelimit* response headers as last seen, exported as they come because what they
    // count is not documented precisely (docs/operations.md): compared with our own counts on a
    // dashboard, never alerted on.
    this.upstreamRateLimit = new Gauge({ name: 'frs_upstream_ratelimit', help: 'X-ratelimit on the last FRS answer per operation (documented as the total flow-control quota; meaning uncertain)', labelNames: ['operation'], registers });
    this.upstreamRateLimitUsed = new Gauge({ name: 'frs_upstream_ratelimit_used', help: 'X-ratelimit-used on the last FRS answer per operation (documented as "remaining requests"; meaning uncertain)', labelNames: ['operation'], registers });
    this.upstreamRateLimitWindow = new Gauge({ name: 'frs_upstream_ratelimit_window_seconds', help: 'X-ratelimit-window on the last FRS answer per operation, in seconds (minute 60, hour 3600, day 86400)', labelNames: ['operation'], registers });

    this.clientTimeouts = new Counter({
      name: 'frs_client_timeouts_total',
      help: 'Client connections cut for being too slow: headers not in within the headers timeout, or a body below the minimum rate (408)',
      labelNames: ['phase'],
      registers,
    });
    for (const phase of ['headers', 'body']) this.clientTimeouts.labels(phase).inc(0);

    this.forecastAmount = new Gauge({ name: 'frs_forecast_month_amount', help: 'Forecast pay-per-use amount of the current billing month (price table currency), at the 0.1, 0.5 and 0.9 quantile', labelNames: ['quantile'], registers });
    this.forecastCalls = new Gauge({ name: 'frs_forecast_month_calls', help: 'Forecast valid calls of the current billing month per operation, at the 0.1, 0.5 and 0.9 quantile', labelNames: ['operation', 'quantile'], registers });

    collectDefaultMetrics({ register: this.registry });
    this.precreate();
  }

  /** Registers a callback run at scrape time to refresh gauges. */
  onCollect(collector: Collector): void {
    this.collectors.push(collector);
  }

  /** Label sets pre-created at 0, so rates and absent() behave from the first scrape. */
  private precreate(): void {
    for (const operation of OPERATION_LABELS) {
      for (const outcome of ATTEMPT_OUTCOMES) {
        this.upstreamAttempts.labels(operation, outcome).inc(0);
        this.requestDuration.labels(operation, outcome);
      }
      this.upstreamDuration.labels(operation);
      this.proxyOverhead.labels(operation);
    }
    for (const operation of BILLABLE_OPERATION_NAMES) {
      this.possiblyBilled.labels(operation).inc(0);
      this.qpsOverflow.labels(operation).inc(0);
    }
  }

  /** Pre-creates the per-app series for a newly known app. */
  precreateApp(app: string, billable: readonly OperationName[]): void {
    for (const operation of OPERATION_LABELS) this.requests.labels(app, operation, '200', 'none').inc(0);
    for (const operation of billable) this.billableCalls.labels(app, operation).inc(0);
  }

  /**
   * Runs every collector first: prom-client reads metrics concurrently, so per-gauge collect() could race.
   * Answers OpenMetrics (with exemplars) when the scraper's Accept header asks for it, as Prometheus
   * does by default; the classic text format otherwise. Scrapes run one at a time because the
   * format is a registry-wide setting in prom-client.
   */
  scrape(accept?: string): Promise<{ contentType: string; body: string }> {
    const run = this.scraping.then(() => this.render(wantsOpenMetrics(accept)));
    this.scraping = run.catch(() => undefined);
    return run;
  }

  private scraping: Promise<unknown> = Promise.resolve();

  private async render(openMetrics: boolean): Promise<{ contentType: string; body: string }> {
    for (const c of this.collectors) await c();
    if (!openMetrics) {
      this.registry.setContentType(Registry.PROMETHEUS_CONTENT_TYPE);
      try {
        return { contentType: Registry.PROMETHEUS_CONTENT_TYPE, body: await this.registry.metrics() };
      } finally {
        this.registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
      }
    }
    // prom-client renames counters in place (drops `_total`) when it writes OpenMetrics; put the
    // names back so the next classic-format scrape still says frs_requests_total. (The typings
    // call `type` an enum; at run time it is the string.)
    const counters = this.registry
      .getMetricsAsArray()
      .filter((m) => (m.type as unknown) === 'counter')
      .map((m) => [m, m.name] as const);
    try {
      return { contentType: Registry.OPENMETRICS_CONTENT_TYPE, body: await this.registry.metrics() };
    } finally {
      for (const [m, name] of counters) (m as { name: string }).name = name;
    }
  }
}

/** prom-client's typings lack the constructor argument its code takes. */
function openMetricsRegistry(): Registry<RegistryContentType> {
  const R = Registry as unknown as new (contentType: string) => Registry<RegistryContentType>;
  return new R(Registry.OPENMETRICS_CONTENT_TYPE);
}

/** True when an Accept header ranks OpenMetrics text above zero (Prometheus sends it first). */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((part) => {
    const [type, ...params] = part.split(';').map((x) => x.trim().toLowerCase());
    if (type !== 'application/openmetrics-text') return false;
    const q = params.find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

/** Longest request id kept as an exemplar: OpenMetrics caps an exemplar's label set at 128 characters. */
export const EXEMPLAR_ID_MAX = 100;

export { ERROR_CODE_LABELS };
