// Writes the Grafana dashboards in grafana/dashboards/ (Grafana 11 JSON model). Generated rather
// than hand-edited so that panel ids and grid positions cannot collide, every query names the one
// provisioned datasource, and the threshold lines drawn on panels are the alert thresholds from
// prometheus/thresholds.yml. test/ops/dashboards.test.ts fails while a committed file is stale.
//
//   npx ts-node --transpile-only grafana/generate-dashboards.ts           # rewrite the JSON
//   npx ts-node --transpile-only grafana/generate-dashboards.ts --check   # exit 1 when stale

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadThresholds, Thresholds } from '../prometheus/thresholds';

export const DASHBOARDS_DIR = join(__dirname, 'dashboards');
/** Must match grafana/provisioning/datasources/prometheus.yml. */
export const DATASOURCE = Object.freeze({ type: 'prometheus', uid: 'prometheus' });
/** Grafana 11.0's dashboard schema; newer Grafana migrates it on load. */
export const SCHEMA_VERSION = 39;
const GRID_WIDTH = 24;

type Json = Record<string, unknown>;

interface Target {
  readonly expr: string;
  readonly legend?: string;
  /** Instant query in table format (tables, bar gauges of "now"). */
  readonly instant?: boolean;
}

interface Step {
  readonly color: string;
  readonly value: number | null;
}

interface PanelSpec {
  readonly type: 'timeseries' | 'stat' | 'bargauge' | 'table' | 'barchart';
  readonly title: string;
  readonly description: string;
  readonly w: number;
  readonly h: number;
  readonly targets: readonly Target[];
  readonly unit?: string;
  readonly min?: number;
  readonly max?: number;
  readonly decimals?: number;
  /** Colour steps; on time series they are drawn as a dashed line. */
  readonly steps?: readonly Step[];
  readonly overrides?: readonly Json[];
  readonly transformations?: readonly Json[];
  readonly options?: Json;
  readonly mappings?: readonly Json[];
}

const green = (value: number | null = null): Step => ({ color: 'green', value });
const red = (value: number | null = null): Step => ({ color: 'red', value });
const orange = (value: number | null): Step => ({ color: 'orange', value });

/** Steps for "higher is worse": green, orange from `warnAt`, red from `limit`. */
const upTo = (limit: number, warnAt?: number): Step[] =>
  warnAt === undefined ? [green(), red(limit)] : [green(), orange(warnAt), red(limit)];
/** Steps for "lower is worse": red below `limit`, green above. */
const downTo = (limit: number): Step[] => [red(), green(limit)];

/** Dashes the series whose display name matches, e.g. quotas and timeouts drawn beside usage. */
const dashed = (regex: string): Json => ({
  matcher: { id: 'byRegexp', options: regex },
  properties: [
    { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
    { id: 'custom.fillOpacity', value: 0 },
  ],
});

/** Unit (and optional other properties) of one column of a merged table. */
const column = (name: string, unit: string, extra: Json[] = []): Json => ({
  matcher: { id: 'byName', options: name },
  properties: [{ id: 'unit', value: unit }, ...extra],
});

/**
 * Turns instant queries A, B, … into one table: names the value columns, drops the time column,
 * then merges rows with equal labels or, when the queries carry different labels, joins them on
 * `joinOn` (e.g. a per-month status beside per-month-and-mode amounts).
 */
const mergeColumns = (names: Record<string, string>, joinOn?: string): Json[] => [
  {
    id: 'organize',
    options: {
      excludeByName: { Time: true },
      // Grafana calls the column `Value` when the panel has one query, `Value #A`… otherwise.
      renameByName: Object.fromEntries(
        Object.entries(names).flatMap(([ref, name]) => [[`Value #${ref}`, name], ...(Object.keys(names).length === 1 ? [['Value', name]] : [])]),
      ),
    },
  },
  joinOn ? { id: 'joinByField', options: { byField: joinOn, mode: 'outer' } } : { id: 'merge', options: {} },
];

/** Places panels left to right in rows of 24 columns, numbering them. */
class Layout {
  private x = 0;
  private y = 0;
  private lineHeight = 0;
  private nextId = 1;
  readonly panels: Json[] = [];

  row(title: string): void {
    this.newLine();
    this.panels.push({ id: this.nextId++, type: 'row', title, collapsed: false, gridPos: { h: 1, w: GRID_WIDTH, x: 0, y: this.y }, panels: [] });
    this.y += 1;
  }

  add(spec: PanelSpec): void {
    if (this.x + spec.w > GRID_WIDTH) this.newLine();
    this.panels.push(panel(this.nextId++, spec, { h: spec.h, w: spec.w, x: this.x, y: this.y }));
    this.x += spec.w;
    this.lineHeight = Math.max(this.lineHeight, spec.h);
  }

  private newLine(): void {
    if (this.x > 0) this.y += this.lineHeight;
    this.x = 0;
    this.lineHeight = 0;
  }
}

function panel(id: number, s: PanelSpec, gridPos: Json): Json {
  const defaults: Json = {
    ...(s.unit !== undefined ? { unit: s.unit } : {}),
    ...(s.min !== undefined ? { min: s.min } : {}),
    ...(s.max !== undefined ? { max: s.max } : {}),
    ...(s.decimals !== undefined ? { decimals: s.decimals } : {}),
    color: { mode: s.type === 'timeseries' || s.type === 'barchart' ? 'palette-classic' : 'thresholds' },
    thresholds: { mode: 'absolute', steps: s.steps ?? [green()] },
    mappings: s.mappings ?? [],
  };
  if (s.type === 'timeseries') {
    defaults.custom = {
      drawStyle: 'line',
      lineWidth: 1,
      fillOpacity: 10,
      showPoints: 'never',
      spanNulls: false,
      thresholdsStyle: { mode: s.steps ? 'dashed' : 'off' },
    };
  }
  if (s.type === 'table') defaults.custom = { align: 'auto', cellOptions: { type: 'color-text' } };
  return {
    id,
    type: s.type,
    title: s.title,
    description: s.description,
    datasource: DATASOURCE,
    gridPos,
    fieldConfig: { defaults, overrides: s.overrides ?? [] },
    options: { ...defaultOptions(s), ...(s.options ?? {}) },
    ...(s.transformations ? { transformations: s.transformations } : {}),
    targets: s.targets.map((t, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: DATASOURCE,
      editorMode: 'code',
      expr: t.expr,
      legendFormat: t.legend ?? '__auto',
      range: !t.instant,
      instant: Boolean(t.instant),
      format: t.instant ? 'table' : 'time_series',
    })),
  };
}

function defaultOptions(s: PanelSpec): Json {
  const reduce = { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false } };
  switch (s.type) {
    case 'timeseries':
      return {
        legend: { displayMode: 'table', placement: 'bottom', showLegend: true, calcs: ['lastNotNull', 'max'] },
        tooltip: { mode: 'multi', sort: 'desc' },
      };
    case 'stat':
      return { ...reduce, colorMode: 'background', graphMode: 'area', justifyMode: 'auto', orientation: 'auto', textMode: 'auto' };
    case 'bargauge':
      return { ...reduce, displayMode: 'gradient', orientation: 'horizontal', showUnfilled: true, valueMode: 'color', minVizHeight: 16 };
    case 'table':
      return { showHeader: true, cellHeight: 'sm', footer: { show: false, reducer: ['sum'], fields: '' } };
    case 'barchart':
      return {
        orientation: 'auto',
        showValue: 'auto',
        stacking: 'none',
        xTickLabelRotation: 0,
        legend: { displayMode: 'list', placement: 'bottom', showLegend: true, calcs: [] },
        tooltip: { mode: 'multi', sort: 'none' },
      };
  }
}

function variable(name: string, label: string, query: string): Json {
  return {
    name,
    label,
    type: 'query',
    datasource: DATASOURCE,
    definition: query,
    query: { qryType: 1, query, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
    refresh: 2,
    regex: '',
    sort: 1,
    multi: true,
    includeAll: true,
    allValue: '.*',
    current: { selected: true, text: ['All'], value: ['$__all'] },
    options: [],
    hide: 0,
    skipUrlSync: false,
  };
}

const OPERATION_VAR = variable('operation', 'Operation', 'label_values(frs_requests_total, operation)');
const APP_VAR = variable('app', 'App', 'label_values(frs_requests_total{operation=~"$operation"}, app)');

function dashboard(uid: string, title: string, description: string, layout: Layout, variables: Json[]): Json {
  return {
    id: null,
    uid,
    title,
    description,
    tags: ['frs-meter'],
    timezone: 'browser',
    editable: true,
    graphTooltip: 1,
    fiscalYearStartMonth: 0,
    liveNow: false,
    refresh: '30s',
    schemaVersion: SCHEMA_VERSION,
    version: 1,
    time: { from: 'now-6h', to: 'now' },
    timepicker: {},
    weekStart: '',
    links: [{ title: 'FRS dashboards', type: 'dashboards', tags: ['frs-meter'], asDropdown: false, includeVars: true, keepTime: true, icon: 'external link', targetBlank: false, tooltip: '', url: '' }],
    annotations: {
      list: [
        {
          name: 'FRS alerts',
          datasource: DATASOURCE,
          enable: true,
          hide: false,
          iconColor: 'red',
          expr: 'ALERTS{alertstate="firing", alertname=~"Frs.+"}',
          step: '60s',
          titleFormat: '{{alertname}}',
          tagKeys: 'severity',
          textFormat: '{{operation}}{{package}}{{bill_cycle}}',
          useValueForTime: false,
        },
      ],
    },
    templating: { list: variables },
    panels: layout.panels,
  };
}

const pct = (r: number): string => `${Number((r * 100).toFixed(4))}%`;

function operationsDashboard(t: Thresholds): Json {
  const req = 'frs_requests_total{app=~"$app", operation=~"$operation"}';
  const op = 'operation=~"$operation"';
  const quantiles = (metric: string, qs: number[]): Target[] =>
    qs.map((q) => ({
      expr: `histogram_quantile(${q}, sum by (operation, le) (rate(${metric}_bucket{${op}}[$__rate_interval])))`,
      legend: `{{operation}} p${Math.round(q * 100)}`,
    }));
  const l = new Layout();

  l.row('Traffic');
  l.add({
    type: 'timeseries', title: 'Requests per second by operation', w: 12, h: 8, unit: 'reqps',
    description: 'Requests answered by frs-meter (any status), per FRS operation.',
    targets: [{ expr: `sum by (operation) (rate(${req}[$__rate_interval]))`, legend: '{{operation}}' }],
  });
  l.add({
    type: 'timeseries', title: 'Requests per second by app', w: 12, h: 8, unit: 'reqps',
    description: 'Requests per calling application (chargeback view of traffic).',
    targets: [{ expr: `sum by (app) (rate(${req}[$__rate_interval]))`, legend: '{{app}}' }],
  });

  l.row('Errors');
  l.add({
    type: 'timeseries', title: 'Error codes over time', w: 12, h: 8, unit: 'reqps',
    description: 'Answers carrying an error code: FRS.xxxx and APIG.xxxx pass through from FRS, METER.xxxx are frs-meter\'s own, `other` is a code outside the catalogue.',
    targets: [{ expr: `sum by (error_code) (rate(frs_requests_total{app=~"$app", ${op}, error_code!="none"}[$__rate_interval]))`, legend: '{{error_code}}' }],
  });
  l.add({
    type: 'timeseries', title: 'Responses by HTTP status', w: 6, h: 8, unit: 'reqps',
    description: 'HTTP status sent to the client.',
    targets: [{ expr: `sum by (code) (rate(${req}[$__rate_interval]))`, legend: '{{code}}' }],
  });
  const errs = `frs_requests_total{app=~"$app", ${op}, code=~"${t.errorRatio.codes}"}`;
  l.add({
    type: 'timeseries', title: `Error ratio by operation (HTTP ${t.errorRatio.codes})`, w: 6, h: 8, unit: 'percentunit', min: 0,
    steps: upTo(t.errorRatio.ratio),
    description: `Share of requests answered ${t.errorRatio.codes}; the dashed line is the FrsErrorRatioHigh limit (${pct(t.errorRatio.ratio)} for ${t.errorRatio.for}).`,
    targets: [{
      expr: `(sum by (operation) (rate(${errs}[$__rate_interval])) or 0 * sum by (operation) (rate(${req}[$__rate_interval])))` +
        ` / sum by (operation) (rate(${req}[$__rate_interval]))`,
      legend: '{{operation}}',
    }],
  });

  l.row('Latency');
  l.add({
    type: 'timeseries', title: 'Client-seen latency p50 / p95 / p99', w: 12, h: 9, unit: 's',
    description: 'Time the client waited, retries included (frs_request_duration_seconds).',
    targets: quantiles('frs_request_duration_seconds', [0.5, 0.95, 0.99]),
  });
  l.add({
    type: 'timeseries', title: 'p99 vs timeout in force', w: 12, h: 9, unit: 's',
    description: `Upstream p99 from the histogram beside the proxy's own rolling p99 and the upstream timeout in force (dashed). FrsLatencyNearTimeout fires when the rolling p99 stays above ${pct(t.latencyNearTimeout.ratio)} of the timeout for ${t.latencyNearTimeout.for}.`,
    targets: [
      { expr: `histogram_quantile(0.99, sum by (operation, le) (rate(frs_upstream_duration_seconds_bucket{${op}}[$__rate_interval])))`, legend: '{{operation}} upstream p99 (histogram)' },
      { expr: `max by (operation) (frs_latency_p99_seconds{${op}})`, legend: '{{operation}} rolling p99 (proxy)' },
      { expr: `max by (operation) (frs_upstream_timeout_seconds{${op}})`, legend: '{{operation}} timeout in force' },
      { expr: `${t.latencyNearTimeout.ratio} * max by (operation) (frs_upstream_timeout_seconds{${op}})`, legend: `{{operation}} alert line (${pct(t.latencyNearTimeout.ratio)} of timeout)` },
    ],
    overrides: [dashed('.*(timeout in force|alert line).*')],
  });
  l.add({
    type: 'timeseries', title: 'Upstream attempt latency p50 / p95 / p99', w: 12, h: 8, unit: 's',
    description: 'One upstream attempt, as FRS answered it (frs_upstream_duration_seconds).',
    targets: quantiles('frs_upstream_duration_seconds', [0.5, 0.95, 0.99]),
  });
  l.add({
    type: 'timeseries', title: 'Proxy overhead p50 / p99', w: 12, h: 8, unit: 's',
    description: 'Client-seen time minus upstream time: what frs-meter itself adds (authentication, admission, recording).',
    targets: quantiles('frs_proxy_overhead_seconds', [0.5, 0.99]),
  });

  l.row('Retries');
  l.add({
    type: 'timeseries', title: 'Requests vs upstream attempts', w: 12, h: 8, unit: 'reqps',
    description: 'Requests from clients (all apps) beside the attempts sent to FRS: the gap is retries (above) or requests that never left frs-meter, such as 401s (below).',
    targets: [
      { expr: `sum by (operation) (rate(frs_requests_total{${op}}[$__rate_interval]))`, legend: '{{operation}} requests' },
      { expr: `sum by (operation) (rate(frs_upstream_attempts_total{${op}}[$__rate_interval]))`, legend: '{{operation}} upstream attempts' },
    ],
    overrides: [dashed('.*upstream attempts')],
  });
  l.add({
    type: 'timeseries', title: 'Retry ratio (upstream attempts per request)', w: 6, h: 8, unit: 'none', decimals: 2, min: 0,
    description: '1.0 means no retries; 1.2 means one extra attempt for every five requests.',
    targets: [{
      expr: `sum by (operation) (rate(frs_upstream_attempts_total{${op}}[$__rate_interval])) / sum by (operation) (rate(frs_requests_total{${op}}[$__rate_interval]))`,
      legend: '{{operation}}',
    }],
  });
  l.add({
    type: 'timeseries', title: 'Upstream attempts by outcome', w: 6, h: 8, unit: 'reqps',
    description: 'success, client_error, server_error, throttled, timeout, connection_error.',
    targets: [{ expr: `sum by (outcome) (rate(frs_upstream_attempts_total{${op}}[$__rate_interval]))`, legend: '{{outcome}}' }],
  });

  l.row('QPS');
  l.add({
    type: 'timeseries', title: 'QPS peak vs quota', w: 12, h: 8, unit: 'reqps', min: 0,
    description: 'Highest 1-second count of upstream attempts in the last 60 s, summed over replicas, beside the QPS quota (dashed).',
    targets: [
      { expr: `sum by (operation) (frs_qps_peak{${op}})`, legend: '{{operation}} peak' },
      { expr: `max by (operation) (frs_qps_quota{${op}})`, legend: '{{operation}} quota' },
    ],
    overrides: [dashed('.* quota')],
  });
  l.add({
    type: 'bargauge', title: 'QPS saturation', w: 6, h: 8, unit: 'percentunit', min: 0, max: 1,
    steps: upTo(t.qpsSaturation.ratio, t.qpsSaturation.ratio * 0.75),
    description: `QPS peak / quota now. FrsQpsSaturationHigh fires above ${pct(t.qpsSaturation.ratio)} for ${t.qpsSaturation.for}.`,
    targets: [{ expr: `sum by (operation) (frs_qps_peak{${op}}) / max by (operation) (frs_qps_quota{${op}} > 0)`, legend: '{{operation}}', instant: true }],
  });
  l.add({
    type: 'timeseries', title: 'Throttles (FRS.0033)', w: 6, h: 8, unit: 'reqps',
    description: 'Upstream attempts FRS throttled (FRS.0033, gateway flow control), and 429s that reached clients (FRS.0033 after retries, or METER.0429 from frs-meter\'s own QPS shaping).',
    targets: [
      { expr: `sum by (operation) (rate(frs_upstream_attempts_total{${op}, outcome="throttled"}[$__rate_interval]))`, legend: '{{operation}} throttled attempts' },
      { expr: `sum by (operation) (rate(frs_requests_total{app=~"$app", ${op}, error_code=~"FRS.0033|METER.0429"}[$__rate_interval]))`, legend: '{{operation}} 429 to clients' },
    ],
  });

  l.row('Usage buffer');
  l.add({
    type: 'timeseries', title: 'Usage events waiting for the database', w: 12, h: 7, unit: 'short', min: 0,
    description: 'Usage recorded in memory but not yet flushed to Postgres, per replica. Grows while Postgres is unreachable.',
    targets: [{ expr: 'max by (instance) (frs_usage_pending_events)', legend: '{{instance}}' }],
  });
  l.add({
    type: 'timeseries', title: 'Time since the last usage flush', w: 12, h: 7, unit: 's', min: 0,
    steps: upTo(t.usageFlushStalled.seconds),
    description: `FrsUsageFlushStalled fires when events wait and this is above ${t.usageFlushStalled.seconds}s for ${t.usageFlushStalled.for}.`,
    targets: [{ expr: 'time() - max by (instance) (frs_usage_last_flush_timestamp_seconds)', legend: '{{instance}}' }],
  });

  return dashboard('frs-operations', 'FRS operations', 'Traffic, errors, latency, retries and QPS of the FRS calls going through frs-meter.', l, [OPERATION_VAR, APP_VAR]);
}

function quotaDashboard(t: Thresholds): Json {
  const op = 'operation=~"$operation"';
  const days = (v: number): number => Number(v.toFixed(4));
  const l = new Layout();

  l.row('Free calls this billing month');
  l.add({
    type: 'bargauge', title: 'Free calls left per operation', w: 8, h: 9, unit: 'short', min: 0,
    description: 'Free calls of this billing month not used yet (2,000 per billable operation by default; none for live_detect).',
    targets: [{ expr: `max by (operation) (frs_free_calls_remaining{${op}})`, legend: '{{operation}}', instant: true }],
  });
  l.add({
    type: 'bargauge', title: 'Free calls left (% of the allowance)', w: 8, h: 9, unit: 'percentunit', min: 0, max: 1,
    steps: downTo(t.freeCallsLow.ratio),
    description: `FrsFreeCallsLow fires below ${pct(t.freeCallsLow.ratio)} while more than ${t.freeCallsLow.minDaysLeftInMonth} days of the month remain.`,
    targets: [{ expr: `max by (operation) (frs_free_calls_remaining{${op}}) / max by (operation) (frs_free_calls_total{${op}} > 0)`, legend: '{{operation}}', instant: true }],
  });
  l.add({
    type: 'stat', title: 'Days left in the billing month', w: 8, h: 9, unit: 'd', decimals: 1,
    steps: downTo(t.freeCallsLow.minDaysLeftInMonth),
    description: 'Until the end of the billing month (BILLING_TIMEZONE, Asia/Shanghai by default), when free calls reset.',
    targets: [{ expr: '(max(frs_month_end_timestamp_seconds) - time()) / 86400', legend: 'days left' }],
  });
  l.add({
    type: 'bargauge', title: 'Month-to-date billable calls per operation', w: 12, h: 8, unit: 'short', min: 0,
    description: 'Valid (2xx) calls of billable operations this billing month, from the database: all replicas, survives restarts.',
    targets: [{ expr: `max by (operation) (frs_month_billable_calls{${op}})`, legend: '{{operation}}', instant: true }],
  });
  l.add({
    type: 'timeseries', title: 'Billable calls this month over time', w: 12, h: 8, unit: 'short', min: 0,
    description: 'Month-to-date billable calls; the line drops to zero when a new billing month starts.',
    targets: [{ expr: `max by (operation) (frs_month_billable_calls{${op}})`, legend: '{{operation}}' }],
  });

  l.row('Call packages');
  const exhaustion = '(min by (package) (frs_call_package_exhaustion_timestamp_seconds > 0) - time()) / 86400';
  l.add({
    type: 'table', title: 'Call packages', w: 24, h: 8,
    description: `Prepaid call packages: calls left, size, forecast exhaustion from the recent burn rate, and expiry. FrsCallPackageLow fires below ${pct(t.callPackageLow.ratio)} left, FrsCallPackageRunningOut when the forecast is within ${t.callPackageExhaustion.days} days.`,
    targets: [
      { expr: 'max by (package) (frs_call_package_remaining_calls)', instant: true },
      { expr: 'max by (package) (frs_call_package_total_calls)', instant: true },
      { expr: 'max by (package) (frs_call_package_remaining_calls) / max by (package) (frs_call_package_total_calls > 0)', instant: true },
      { expr: 'min by (package) (frs_call_package_exhaustion_timestamp_seconds > 0) * 1000', instant: true },
      { expr: exhaustion, instant: true },
      { expr: 'max by (package) (frs_call_package_expiry_timestamp_seconds) * 1000', instant: true },
    ],
    transformations: mergeColumns({ A: 'Calls left', B: 'Size', C: 'Left', D: 'Forecast exhaustion', E: 'Runs out in', F: 'Expires' }),
    overrides: [
      column('Calls left', 'short'),
      column('Size', 'short'),
      column('Left', 'percentunit', [{ id: 'thresholds', value: { mode: 'absolute', steps: downTo(t.callPackageLow.ratio) } }]),
      column('Forecast exhaustion', 'dateTimeAsIso'),
      column('Runs out in', 'd', [{ id: 'decimals', value: 1 }, { id: 'thresholds', value: { mode: 'absolute', steps: downTo(days(t.callPackageExhaustion.days)) } }]),
      column('Expires', 'dateTimeAsIso'),
    ],
  });
  l.add({
    type: 'timeseries', title: 'Call package calls left', w: 12, h: 8, unit: 'short', min: 0,
    description: 'Remaining calls per package over time; the slope is the burn rate the forecast uses.',
    targets: [{ expr: 'max by (package) (frs_call_package_remaining_calls)', legend: '{{package}}' }],
  });
  l.add({
    type: 'bargauge', title: 'Days until a call package runs out (forecast)', w: 12, h: 8, unit: 'd', decimals: 1, min: 0,
    steps: downTo(t.callPackageExhaustion.days),
    description: `FrsCallPackageRunningOut fires below ${t.callPackageExhaustion.days} days.`,
    targets: [{ expr: exhaustion, legend: '{{package}}', instant: true }],
  });

  l.row('QPS packages');
  const qpsDays = `(max by (operation) (frs_qps_package_expiry_timestamp_seconds{${op}} > 0) - time()) / 86400`;
  l.add({
    type: 'table', title: 'QPS packages', w: 12, h: 8,
    description: 'QPS quota in force per operation and, where a QPS package is bought, its expiry. Without a package the default quota applies (1 QPS live_detect, 10 QPS otherwise).',
    targets: [
      { expr: `max by (operation) (frs_qps_quota{${op}})`, instant: true },
      { expr: `max by (operation) (frs_qps_package_expiry_timestamp_seconds{${op}} > 0) * 1000`, instant: true },
      { expr: qpsDays, instant: true },
    ],
    transformations: mergeColumns({ A: 'Quota (QPS)', B: 'Package expires', C: 'Days to expiry' }),
    overrides: [
      column('Quota (QPS)', 'short'),
      column('Package expires', 'dateTimeAsIso'),
      column('Days to expiry', 'd', [{ id: 'decimals', value: 1 }, { id: 'thresholds', value: { mode: 'absolute', steps: downTo(t.qpsPackageExpiry.days) } }]),
    ],
  });
  l.add({
    type: 'bargauge', title: 'Days until a QPS package expires', w: 12, h: 8, unit: 'd', decimals: 1,
    steps: downTo(t.qpsPackageExpiry.days),
    description: `FrsQpsPackageExpiring fires below ${t.qpsPackageExpiry.days} days; after expiry the operation falls back to the default quota.`,
    targets: [{ expr: qpsDays, legend: '{{operation}}', instant: true }],
  });

  return dashboard('frs-quota', 'FRS quota and packages', 'Free calls, month-to-date billable calls, call packages and QPS packages.', l, [OPERATION_VAR]);
}

function billingDashboard(t: Thresholds): Json {
  const op = 'operation=~"$operation"';
  const tol = t.reconciliation.toleranceCalls;
  const l = new Layout();

  l.row('Bills');
  l.add({
    type: 'barchart', title: 'Billed amount by month', w: 12, h: 9, unit: 'currency:¥', min: 0,
    description: 'Total of the monthly bills pulled from the BSS billing API (main currency unit, CNY on the China site).',
    targets: [{ expr: 'sum by (bill_cycle) (max by (bill_cycle, charging_mode) (frs_billing_amount))', instant: true }],
    transformations: mergeColumns({ A: 'Amount' }),
    options: { xField: 'bill_cycle' },
  });
  l.add({
    type: 'table', title: 'Billed amount by month and charging mode', w: 12, h: 9,
    description: 'One row per bill cycle and charging mode (pay-per-use, packages, …), and whether the month is final (Huawei issues the final monthly bill on the 3rd of the next month).',
    targets: [
      { expr: 'max by (bill_cycle, charging_mode) (frs_billing_amount)', instant: true },
      { expr: 'max by (bill_cycle) (frs_billing_month_final)', instant: true },
    ],
    transformations: mergeColumns({ A: 'Amount', B: 'Month' }, 'bill_cycle'),
    overrides: [
      column('Amount', 'currency:¥'),
      column('Month', 'none', [{
        id: 'mappings',
        value: [{ type: 'value', options: { '0': { text: 'provisional', color: 'orange', index: 0 }, '1': { text: 'final', color: 'green', index: 1 } } }],
      }]),
    ],
  });

  l.row('Reconciliation');
  const recSteps = [red(), green(-tol), red(tol + 1)];
  l.add({
    type: 'table', title: 'Reconciliation difference (metered minus billed calls)', w: 12, h: 9,
    description: `Calls frs-meter metered minus calls Huawei billed, per month and operation. On a final month anything beyond ${tol} calls fires FrsReconciliationMismatch.`,
    targets: [
      { expr: `max by (bill_cycle, operation) (frs_reconciliation_difference_calls{${op}})`, instant: true },
      { expr: 'max by (bill_cycle) (frs_billing_month_final)', instant: true },
    ],
    transformations: mergeColumns({ A: 'Difference (calls)', B: 'Month' }, 'bill_cycle'),
    overrides: [
      column('Difference (calls)', 'short', [{ id: 'thresholds', value: { mode: 'absolute', steps: recSteps } }]),
      column('Month', 'none', [{
        id: 'mappings',
        value: [{ type: 'value', options: { '0': { text: 'provisional', color: 'orange', index: 0 }, '1': { text: 'final', color: 'green', index: 1 } } }],
      }]),
    ],
  });
  l.add({
    type: 'timeseries', title: 'Reconciliation difference over time', w: 12, h: 9, unit: 'short',
    description: 'How the difference moved as bills and metering were synced.',
    targets: [{ expr: `max by (bill_cycle, operation) (frs_reconciliation_difference_calls{${op}})`, legend: '{{bill_cycle}} {{operation}}' }],
  });

  l.row('Sync and chargeback');
  l.add({
    type: 'stat', title: 'Age of the last billing sync', w: 8, h: 8, unit: 's',
    steps: upTo(t.billingSyncStale.hours * 3600, t.billingSyncStale.hours * 3600 * (2 / 3)),
    description: `Time since the last successful sync from the BSS billing API, per kind. FrsBillingSyncStale fires above ${t.billingSyncStale.hours}h.`,
    targets: [{ expr: 'time() - max by (kind) (frs_billing_last_sync_timestamp_seconds)', legend: '{{kind}}' }],
  });
  l.add({
    type: 'bargauge', title: 'Billable calls by app (selected time range)', w: 8, h: 8, unit: 'short', min: 0,
    description: 'Valid calls per calling application over the dashboard time range: the basis of chargeback.',
    targets: [{ expr: `sum by (app) (increase(frs_billable_calls_total{app=~"$app", ${op}}[$__range]))`, legend: '{{app}}', instant: true }],
  });
  l.add({
    type: 'table', title: 'Billable calls by app and operation (selected time range)', w: 8, h: 8,
    description: 'The same, split by operation.',
    targets: [{ expr: `sum by (app, operation) (increase(frs_billable_calls_total{app=~"$app", ${op}}[$__range]))`, instant: true }],
    transformations: mergeColumns({ A: 'Billable calls' }),
    overrides: [column('Billable calls', 'short', [{ id: 'decimals', value: 0 }])],
  });

  return dashboard('frs-billing', 'FRS billing', 'Monthly bills from Huawei, their reconciliation with metered calls, and chargeback per app.', l, [OPERATION_VAR, APP_VAR]);
}

/** File name → dashboard JSON model. */
export function buildDashboards(t: Thresholds = loadThresholds()): Record<string, Json> {
  return {
    'frs-operations.json': operationsDashboard(t),
    'frs-quota.json': quotaDashboard(t),
    'frs-billing.json': billingDashboard(t),
  };
}

export function renderDashboard(d: Json): string {
  return `${JSON.stringify(d, null, 2)}\n`;
}

if (require.main === module) {
  const check = process.argv.includes('--check');
  let stale = false;
  for (const [file, d] of Object.entries(buildDashboards())) {
    const path = join(DASHBOARDS_DIR, file);
    if (check) {
      let current = '';
      try {
        current = readFileSync(path, 'utf8');
      } catch {
        // a missing file is stale too
      }
      if (current !== renderDashboard(d)) {
        console.error(`grafana/dashboards/${file} is stale: run npx ts-node --transpile-only grafana/generate-dashboards.ts`);
        stale = true;
      }
    } else {
      writeFileSync(path, renderDashboard(d));
      console.log(`wrote ${path}`);
    }
  }
  if (stale) process.exit(1);
}
