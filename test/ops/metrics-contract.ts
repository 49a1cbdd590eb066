// The metric contract of SPEC §6 (plus the metrics planned for dashboards and alerts), the one
// list the ops tests check dashboards, alert rules and a live /metrics against.

export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricContract {
  readonly type: MetricType;
  readonly labels: readonly string[];
  /** Not in SPEC §6 yet; dashboards or alerts rely on it, so the service must expose it. */
  readonly planned?: true;
}

export const FRS_METRICS: Readonly<Record<string, MetricContract>> = Object.freeze({
  frs_requests_total: { type: 'counter', labels: ['app', 'operation', 'code', 'error_code'] },
  frs_upstream_attempts_total: { type: 'counter', labels: ['operation', 'outcome'] },
  frs_billable_calls_total: { type: 'counter', labels: ['app', 'operation'] },
  frs_request_duration_seconds: { type: 'histogram', labels: ['operation', 'outcome'] },
  frs_upstream_duration_seconds: { type: 'histogram', labels: ['operation'] },
  frs_proxy_overhead_seconds: { type: 'histogram', labels: ['operation'] },
  frs_latency_p99_seconds: { type: 'gauge', labels: ['operation'] },
  frs_upstream_timeout_seconds: { type: 'gauge', labels: ['operation'] },
  frs_month_billable_calls: { type: 'gauge', labels: ['operation'] },
  frs_free_calls_remaining: { type: 'gauge', labels: ['operation'] },
  frs_qps_quota: { type: 'gauge', labels: ['operation'] },
  frs_qps_peak: { type: 'gauge', labels: ['operation'] },
  frs_qps_saturation_ratio: { type: 'gauge', labels: ['operation'] },
  frs_qps_package_expiry_timestamp_seconds: { type: 'gauge', labels: ['operation'] },
  frs_call_package_remaining_calls: { type: 'gauge', labels: ['package'] },
  frs_call_package_expiry_timestamp_seconds: { type: 'gauge', labels: ['package'] },
  frs_call_package_exhaustion_timestamp_seconds: { type: 'gauge', labels: ['package'] },
  frs_usage_pending_events: { type: 'gauge', labels: [] },
  frs_usage_last_flush_timestamp_seconds: { type: 'gauge', labels: [] },
  frs_billing_last_sync_timestamp_seconds: { type: 'gauge', labels: ['kind'] },
  frs_billing_amount: { type: 'gauge', labels: ['bill_cycle', 'charging_mode'] },
  frs_reconciliation_difference_calls: { type: 'gauge', labels: ['bill_cycle', 'operation'] },
  // SPEC §8 (issue 10).
  frs_reconciliation_unexplained_calls: { type: 'gauge', labels: ['bill_cycle', 'operation'] },
  frs_possibly_billed_calls_total: { type: 'counter', labels: ['operation'] },
  frs_qps_overflow_calls_total: { type: 'counter', labels: ['operation'] },
  // Planned with the lead for issue #6.
  frs_call_package_total_calls: { type: 'gauge', labels: ['package'], planned: true },
  frs_free_calls_total: { type: 'gauge', labels: ['operation'], planned: true },
  frs_billing_month_final: { type: 'gauge', labels: ['bill_cycle'], planned: true },
  frs_month_end_timestamp_seconds: { type: 'gauge', labels: [], planned: true },
  // Issue 13: FRS's rate-limit headers as last seen.
  frs_upstream_ratelimit: { type: 'gauge', labels: ['operation'], planned: true },
  frs_forecast_month_amount: { type: 'gauge', labels: ['quantile'], planned: true },
  frs_forecast_month_calls: { type: 'gauge', labels: ['operation', 'quantile'], planned: true },
  frs_upstream_ratelimit_used: { type: 'gauge', labels: ['operation'], planned: true },
  frs_upstream_ratelimit_window_seconds: { type: 'gauge', labels: ['operation'], planned: true },
  // Exposed by the service but not in SPEC §6; the dashboards show them (issue #14).
  frs_qps_shaped_total: { type: 'counter', labels: ['operation', 'result'], planned: true },
  frs_upstream_pool_connections: { type: 'gauge', labels: ['state'], planned: true },
  // Issue 12: budgets (SPEC §8) and cluster-wide QPS shaping.
  frs_app_budget_used_ratio: { type: 'gauge', labels: ['app', 'kind'] },
  frs_app_budget_remaining: { type: 'gauge', labels: ['app', 'kind'] },
  frs_app_budget_threshold_crossed_ratio: { type: 'gauge', labels: ['app', 'kind'], planned: true },
  frs_qps_replica_share: { type: 'gauge', labels: ['operation'], planned: true },
  frs_qps_coordination_replicas: { type: 'gauge', labels: [], planned: true },
  frs_qps_coordination_fallback_calls_total: { type: 'counter', labels: ['operation'], planned: true },
});

/** Series our recording rules write (prometheus/alerts.yml), with their labels. */
export const RECORDED_METRICS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  'operation_error_code:frs_request_errors:increase_window': ['operation', 'error_code'],
  'operation:frs_requests:increase_window': ['operation'],
  'operation_error_code:frs_request_error_ratio:window': ['operation', 'error_code'],
  'operation_error_code:frs_request_error_ratio:same_hour_7d': ['operation', 'error_code'],
});

/** Series Prometheus itself adds, usable in any expression. */
export const PROMETHEUS_METRICS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  up: [],
  ALERTS: ['alertname', 'alertstate', 'severity', 'operation', 'package', 'bill_cycle', 'kind', 'app', 'error_code'],
});

/** Labels every scraped series carries. */
export const TARGET_LABELS: readonly string[] = ['job', 'instance'];

export const OPERATIONS: readonly string[] = [
  'face_detect', 'face_compare', 'face_search', 'live_detect', 'live_detect_face', 'face_add', 'face_delete',
  'face_batch_delete', 'face_update', 'face_list', 'face_set_create', 'face_set_list', 'face_set_show',
  'face_set_delete', 'subscribe_status', 'unknown',
];

export const UPSTREAM_OUTCOMES: readonly string[] = ['success', 'client_error', 'server_error', 'throttled', 'timeout', 'connection_error'];
