// Writes prometheus/alerts.yml from the rule definitions below and the numbers in thresholds.yml.
//
// Why a generator and not recording rules holding the constants: an alert's threshold appears in
// its expression, in its `for:` and in the words of its description ("above 80% for 5m"), and
// only a generator keeps all three in step. The output stays plain, reviewable YAML that promtool
// checks and tests; test/ops/alerts.test.ts fails while the committed file is stale.
//
//   npx ts-node --transpile-only prometheus/generate-alerts.ts           # rewrite alerts.yml
//   npx ts-node --transpile-only prometheus/generate-alerts.ts --check   # exit 1 when stale

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { durationSeconds, loadThresholds, Thresholds } from './thresholds';

export const ALERTS_FILE = join(__dirname, 'alerts.yml');

export type Severity = 'critical' | 'warning' | 'info';

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for: string;
  readonly labels: { readonly severity: Severity };
  readonly annotations: { readonly summary: string; readonly description: string; readonly runbook_url: string };
}

/** A recorded series the alerts and dashboards read (name `level:metric:operations`). */
export interface RecordingRule {
  readonly record: string;
  readonly expr: string;
  readonly alert?: never;
}

export interface RuleGroup {
  readonly name: string;
  readonly rules: readonly (AlertRule | RecordingRule)[];
}

/** The recorded series of the error-anomaly group, named once for rules, dashboards and tests. */
export const ERROR_ANOMALY = Object.freeze({
  /** Requests answered with an error code, per operation and code, over the window. */
  errors: 'operation_error_code:frs_request_errors:increase_window',
  /** All requests per operation over the window. */
  requests: 'operation:frs_requests:increase_window',
  /** errors / requests. */
  ratio: 'operation_error_code:frs_request_error_ratio:window',
  /** The same ratio over the same hours of each of the last 7 days, taken together. */
  baseline: 'operation_error_code:frs_request_error_ratio:same_hour_7d',
});

/**
 * Sums `series` as it was `1d` … `7d` ago. Each day gets its own label first, so a day without
 * the series (no such error that day) drops out instead of emptying the whole sum, as `+` would.
 */
function sameHourLastWeek(series: string, by: string): string {
  const days = [1, 2, 3, 4, 5, 6, 7].map((d) => `label_replace(${series} offset ${d}d, "baseline_day", "${d}", "", "")`);
  return `sum by (${by}) (${days.join(' or ')})`;
}

const pct = (ratio: number): string => `${Number((ratio * 100).toFixed(4))}%`;
const DAY = 86_400;

/** `5..|429` reads as `5xx or 429` in a description. */
const statusWords = (codes: string): string => codes.replace(/\./g, 'x').split('|').join(' or ');

/** The anchor a Markdown renderer gives a `## Name` heading: the alert name lower-cased. */
export function runbookAnchor(alert: string): string {
  return alert.toLowerCase();
}

export function buildAlertGroups(t: Thresholds): RuleGroup[] {
  const rule = (
    alert: string,
    severity: Severity,
    forDuration: string,
    expr: string,
    summary: string,
    description: string,
  ): AlertRule => ({
    alert,
    expr,
    for: forDuration,
    labels: { severity },
    annotations: { summary, description, runbook_url: `${t.runbookBaseUrl}#${runbookAnchor(alert)}` },
  });

  const e = t.errorRatio;
  const a = t.errorAnomaly;
  const up = t.authFailures.upstream;
  const cl = t.authFailures.client;
  return [
    {
      name: 'frs-meter.health',
      rules: [
        rule(
          'FrsMeterDown',
          'critical',
          t.meterDown.for,
          'up{job="frs-meter"} == 0',
          'frs-meter target {{ $labels.instance }} cannot be scraped',
          `Prometheus has failed to scrape frs-meter at {{ $labels.instance }} for ${t.meterDown.for}. ` +
            'Either the service is down or /metrics does not answer; every other frs-meter alert is blind meanwhile.',
        ),
        rule(
          'FrsUsageFlushStalled',
          'critical',
          t.usageFlushStalled.for,
          `(time() - max by (instance) (frs_usage_last_flush_timestamp_seconds) > ${t.usageFlushStalled.seconds})` +
            ' and on (instance) max by (instance) (frs_usage_pending_events) > 0',
          'Usage flush on {{ $labels.instance }} stalled for {{ $value | humanizeDuration }}',
          `frs-meter on {{ $labels.instance }} holds usage events in memory and its last successful flush to Postgres ` +
            `was {{ $value | humanizeDuration }} ago (limit ${t.usageFlushStalled.seconds}s). ` +
            'Metering is delayed, and a crash now would lose the buffered calls.',
        ),
      ],
    },
    {
      name: 'frs-meter.traffic',
      rules: [
        rule(
          'FrsErrorRatioHigh',
          'critical',
          e.for,
          `sum by (operation) (rate(frs_requests_total{code=~"${e.codes}"}[${e.window}]))` +
            ` / sum by (operation) (rate(frs_requests_total[${e.window}])) > ${e.ratio}`,
          '{{ $labels.operation }}: {{ $value | humanizePercentage }} of requests fail',
          `{{ $value | humanizePercentage }} of {{ $labels.operation }} requests over the last ${e.window} were answered ` +
            `with HTTP ${statusWords(e.codes)} (limit ${pct(e.ratio)}, for ${e.for}). Callers see these failures after any retries.`,
        ),
        rule(
          'FrsLatencyNearTimeout',
          'warning',
          t.latencyNearTimeout.for,
          'max by (operation) (frs_latency_p99_seconds) / max by (operation) (frs_upstream_timeout_seconds > 0)' +
            ` > ${t.latencyNearTimeout.ratio}`,
          '{{ $labels.operation }} p99 is {{ $value | humanizePercentage }} of the timeout in force',
          `The rolling p99 latency of {{ $labels.operation }} has been above ${pct(t.latencyNearTimeout.ratio)} of the upstream ` +
            `timeout in force for ${t.latencyNearTimeout.for} (now {{ $value | humanizePercentage }}). ` +
            'More attempts will time out (METER.0504) and be retried.',
        ),
        rule(
          'FrsUpstreamAuthFailures',
          'critical',
          up.for,
          `sum by (error_code) (increase(frs_requests_total{error_code=~"APIG.0301|APIGW.0301"}[${up.window}])) > ${up.count}`,
          'FRS refuses frs-meter\'s credentials ({{ $labels.error_code }})',
          `{{ $value | humanize }} requests in the last ${up.window} were refused by the FRS gateway with ` +
            `{{ $labels.error_code }} (limit ${up.count}): the upstream AK/SK or IAM token of frs-meter is wrong or expired, ` +
            'so every call fails.',
        ),
        rule(
          'FrsClientAuthFailures',
          'warning',
          cl.for,
          `sum by (app) (increase(frs_requests_total{error_code="METER.0401"}[${cl.window}])) > ${cl.count}`,
          'Burst of rejected app credentials (app {{ $labels.app }})',
          `frs-meter answered {{ $value | humanize }} requests with METER.0401 in the last ${cl.window} ` +
            `(limit ${cl.count}), app label "{{ $labels.app }}": a client uses a wrong or revoked key, or someone is guessing keys.`,
        ),
      ],
    },
    {
      // Recording rules first: a group evaluates in order, so the alert reads this round's values.
      name: 'frs-meter.error-anomaly',
      rules: [
        { record: ERROR_ANOMALY.errors, expr: `sum by (operation, error_code) (increase(frs_requests_total{error_code!="none"}[${a.window}]))` },
        { record: ERROR_ANOMALY.requests, expr: `sum by (operation) (increase(frs_requests_total[${a.window}]))` },
        { record: ERROR_ANOMALY.ratio, expr: `${ERROR_ANOMALY.errors} / on (operation) group_left () (${ERROR_ANOMALY.requests} > 0)` },
        {
          record: ERROR_ANOMALY.baseline,
          expr: `${sameHourLastWeek(ERROR_ANOMALY.errors, 'operation, error_code')} / on (operation) group_left () (${sameHourLastWeek(ERROR_ANOMALY.requests, 'operation')} > 0)`,
        },
        rule(
          'FrsErrorCodeAnomaly',
          'warning',
          a.for,
          `${ERROR_ANOMALY.ratio} > ${a.minRatio}` +
            ` and on (operation) (${ERROR_ANOMALY.requests} >= ${a.minRequests})` +
            ` and (${ERROR_ANOMALY.ratio} > ${a.factor} * ${ERROR_ANOMALY.baseline} or ${ERROR_ANOMALY.ratio} unless ${ERROR_ANOMALY.baseline})`,
          '{{ $labels.operation }}: {{ $labels.error_code }} on {{ $value | humanizePercentage }} of requests, far above the usual',
          `{{ $value | humanizePercentage }} of {{ $labels.operation }} requests over the last ${a.window} ended with {{ $labels.error_code }}: ` +
            `more than ${a.factor}× the share in the same hours of the last 7 days (or a code not seen then), above the ${pct(a.minRatio)} floor ` +
            `and with at least ${a.minRequests} requests, for ${a.for}. Something changed today: a client, an image source, or FRS.`,
        ),
      ],
    },
    {
      name: 'frs-meter.capacity',
      rules: [
        rule(
          'FrsQpsSaturationHigh',
          'warning',
          t.qpsSaturation.for,
          `sum by (operation) (frs_qps_peak) / max by (operation) (frs_qps_quota > 0) > ${t.qpsSaturation.ratio}`,
          '{{ $labels.operation }} QPS peak at {{ $value | humanizePercentage }} of the quota',
          `The peak 1-second rate of upstream {{ $labels.operation }} attempts (summed over replicas) has been above ` +
            `${pct(t.qpsSaturation.ratio)} of the QPS quota for ${t.qpsSaturation.for} (now {{ $value | humanizePercentage }}). ` +
            'Past 100% FRS throttles with FRS.0033.',
        ),
        rule(
          'FrsThrottling',
          'warning',
          t.throttling.for,
          `sum by (operation) (rate(frs_upstream_attempts_total{outcome="throttled"}[${t.throttling.window}]))` +
            ` / sum by (operation) (rate(frs_upstream_attempts_total[${t.throttling.window}])) > ${t.throttling.ratio}`,
          'FRS throttles {{ $value | humanizePercentage }} of {{ $labels.operation }} attempts (FRS.0033)',
          `{{ $value | humanizePercentage }} of upstream {{ $labels.operation }} attempts over the last ${t.throttling.window} ` +
            `were throttled by FRS (FRS.0033 or gateway flow control), above ${pct(t.throttling.ratio)} for ${t.throttling.for}. ` +
            'Throttled calls cost retries and latency, and fail once the retry budget is spent.',
        ),
      ],
    },
    {
      name: 'frs-meter.quota',
      rules: [
        rule(
          'FrsQpsPackageExpiring',
          'warning',
          t.qpsPackageExpiry.for,
          `max by (operation) (frs_qps_package_expiry_timestamp_seconds > 0) - time() < ${t.qpsPackageExpiry.days * DAY}`,
          'QPS package of {{ $labels.operation }} expires in {{ $value | humanizeDuration }}',
          `The QPS package of {{ $labels.operation }} expires in {{ $value | humanizeDuration }} (alert below ` +
            `${t.qpsPackageExpiry.days} days; negative means it has expired). Then the operation falls back to the default ` +
            'quota (1 QPS for live_detect, 10 QPS otherwise) and pay-per-use.',
        ),
        rule(
          'FrsCallPackageRunningOut',
          'warning',
          t.callPackageExhaustion.for,
          `(min by (package) (frs_call_package_exhaustion_timestamp_seconds > 0) - time() < ${t.callPackageExhaustion.days * DAY})` +
            ' and on (package) max by (package) (frs_call_package_remaining_calls) > 0' +
            ' and on (package) max by (package) (frs_call_package_expiry_timestamp_seconds) > time()',
          'Call package {{ $labels.package }} runs out in {{ $value | humanizeDuration }}',
          `At the recent burn rate call package {{ $labels.package }} runs out in {{ $value | humanizeDuration }} ` +
            `(alert below ${t.callPackageExhaustion.days} days). After that its calls are billed pay-per-use.`,
        ),
        rule(
          'FrsCallPackageLow',
          'warning',
          t.callPackageLow.for,
          `max by (package) (frs_call_package_remaining_calls) / max by (package) (frs_call_package_total_calls > 0) < ${t.callPackageLow.ratio}` +
            ' and on (package) max by (package) (frs_call_package_expiry_timestamp_seconds) > time()',
          'Call package {{ $labels.package }} has {{ $value | humanizePercentage }} left',
          `Call package {{ $labels.package }} has {{ $value | humanizePercentage }} of its calls left ` +
            `(alert below ${pct(t.callPackageLow.ratio)}). After that its calls are billed pay-per-use.`,
        ),
        rule(
          'FrsFreeCallsLow',
          'info',
          t.freeCallsLow.for,
          `max by (operation) (frs_free_calls_remaining) / max by (operation) (frs_free_calls_total > 0) < ${t.freeCallsLow.ratio}` +
            ` and on () (max(frs_month_end_timestamp_seconds) - time() > ${t.freeCallsLow.minDaysLeftInMonth * DAY})`,
          '{{ $labels.operation }} has {{ $value | humanizePercentage }} of this month\'s free calls left',
          `Only {{ $value | humanizePercentage }} of this billing month's free {{ $labels.operation }} calls are left ` +
            `(alert below ${pct(t.freeCallsLow.ratio)} while more than ${t.freeCallsLow.minDaysLeftInMonth} days of the month remain). ` +
            'The rest of the month is drawn from packages or billed pay-per-use.',
        ),
      ],
    },
    {
      name: 'frs-meter.billing',
      rules: [
        rule(
          'FrsBillingSyncStale',
          'warning',
          t.billingSyncStale.for,
          `time() - max by (kind) (frs_billing_last_sync_timestamp_seconds) > ${t.billingSyncStale.hours * 3600}`,
          'Billing sync ({{ $labels.kind }}) last succeeded {{ $value | humanizeDuration }} ago',
          `The last successful {{ $labels.kind }} sync from the BSS billing API was {{ $value | humanizeDuration }} ago ` +
            `(limit ${t.billingSyncStale.hours}h; an age of decades means it never succeeded). ` +
            'Bills, package balances and reconciliation are out of date.',
        ),
        rule(
          'FrsReconciliationMismatch',
          'warning',
          t.reconciliation.for,
          // The unexplained part, not the raw difference: calls a QPS package covered, possibly-billed
          // attempts and gateway timeouts are explained by the reconciliation and must not page.
          `(max by (bill_cycle, operation) (frs_reconciliation_unexplained_calls) > ${t.reconciliation.toleranceCalls}` +
            ` or max by (bill_cycle, operation) (frs_reconciliation_unexplained_calls) < ${-t.reconciliation.toleranceCalls || 0})` +
            ' and on (bill_cycle) max by (bill_cycle) (frs_billing_month_final) == 1',
          'Final bill {{ $labels.bill_cycle }}: {{ $value | humanize }} {{ $labels.operation }} calls differ without explanation',
          'For the final bill of {{ $labels.bill_cycle }}, {{ $value | humanize }} {{ $labels.operation }} calls of the difference between metered and billed ' +
            `have no explanation (positive: metered more than billed; negative: billed more, e.g. calls that bypassed the proxy; tolerance ${t.reconciliation.toleranceCalls} calls).`,
        ),
      ],
    },
    {
      name: 'frs-meter.budgets',
      rules: [
        rule(
          'FrsBudgetThresholdCrossed',
          'warning',
          t.budget.thresholdFor,
          // Every replica exposes the same database-backed value: max, not sum.
          'max by (app, kind) (frs_app_budget_threshold_crossed_ratio) > 0 < 1',
          'Budget of {{ $labels.app }} ({{ $labels.kind }}): the {{ $value | humanizePercentage }} alert threshold is crossed',
          "App {{ $labels.app }} has used at least {{ $value | humanizePercentage }} of its monthly {{ $labels.kind }} budget " +
            "(the highest of the budget's alert_thresholds reached). A block budget refuses calls with 402 METER.0402 once it is used up.",
        ),
        rule(
          'FrsBudgetExhausted',
          'critical',
          t.budget.thresholdFor,
          'max by (app, kind) (frs_app_budget_used_ratio) >= 1',
          'Budget of {{ $labels.app }} ({{ $labels.kind }}) is used up',
          'App {{ $labels.app }} has used {{ $value | humanizePercentage }} of its monthly {{ $labels.kind }} budget. ' +
            'With action "block" its calls are refused with 402 METER.0402 until the month resets or the budget is raised; with "alert_only" they go on.',
        ),
        rule(
          'FrsBudgetForecastExhausted',
          'warning',
          t.budget.forecastFor,
          `max by (app, kind) (predict_linear(frs_app_budget_remaining[${t.budget.forecastWindow}], scalar(max(frs_month_end_timestamp_seconds)) - time())) < 0` +
            ' and max by (app, kind) (frs_app_budget_remaining) > 0',
          'Budget of {{ $labels.app }} ({{ $labels.kind }}) is forecast to run out before the month ends',
          `At the pace of the last ${t.budget.forecastWindow}, app {{ $labels.app }} uses up its monthly {{ $labels.kind }} budget before the billing month ends ` +
            '(forecast remaining at the end of the month: {{ $value | humanize }}).',
        ),
      ],
    },
  ];
}

export function renderAlertsYaml(t: Thresholds): string {
  const header =
    '# GENERATED by prometheus/generate-alerts.ts from prometheus/thresholds.yml: do not edit by hand.\n' +
    '# Tests: prometheus/tests/*.yml (promtool test rules); runbook: docs/runbook.md.\n';
  return header + stringify({ groups: buildAlertGroups(t) }, { lineWidth: 0 });
}

/** Every `for:` must be a real duration, so promtool tests can evaluate before and after it. */
export function checkRuleDurations(groups: readonly RuleGroup[]): void {
  for (const g of groups) for (const r of g.rules) if ('for' in r) durationSeconds(r.for);
}

if (require.main === module) {
  const thresholds = loadThresholds();
  const groups = buildAlertGroups(thresholds);
  checkRuleDurations(groups);
  const text = renderAlertsYaml(thresholds);
  if (process.argv.includes('--check')) {
    if (readFileSync(ALERTS_FILE, 'utf8') !== text) {
      console.error('prometheus/alerts.yml is stale: run npx ts-node --transpile-only prometheus/generate-alerts.ts');
      process.exit(1);
    }
  } else {
    writeFileSync(ALERTS_FILE, text);
    console.log(`wrote ${ALERTS_FILE}`);
  }
}
