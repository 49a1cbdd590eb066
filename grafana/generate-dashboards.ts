// Writes the Grafana dashboards in grafana/dashboards/ with the builders of
// @grafana/grafana-foundation-sdk, which are generated from Grafana's own dashboard schema (the
// 11.6 release, the Grafana the compose stack runs): a panel option Grafana does not know, or a
// value of the wrong type, fails `npm run typecheck` instead of being dropped by Grafana at load.
// Generated rather than hand-edited so that panel ids and grid positions cannot collide, every
// query names the one provisioned datasource, and the threshold lines drawn on panels are the
// alert thresholds from prometheus/thresholds.yml. test/ops/dashboards.test.ts fails while a
// committed file is stale.
//
//   npx ts-node --transpile-only grafana/generate-dashboards.ts           # rewrite the JSON
//   npx ts-node --transpile-only grafana/generate-dashboards.ts --check   # exit 1 when stale

// The SDK publishes these modules through package.json "exports", which the project's commonjs
// module resolution does not read for types; tsconfig.json maps them to dist/ (`paths`), and Node
// resolves them through "exports" at run time.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as barchart from '@grafana/grafana-foundation-sdk/barchart';
import * as bargauge from '@grafana/grafana-foundation-sdk/bargauge';
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { ERROR_ANOMALY } from '../prometheus/generate-alerts';
import { loadThresholds, Thresholds } from '../prometheus/thresholds';

export const DASHBOARDS_DIR = join(__dirname, 'dashboards');
/** Must match grafana/provisioning/datasources/prometheus.yml. */
export const DATASOURCE: Readonly<dashboard.DataSourceRef> = Object.freeze({ type: 'prometheus', uid: 'prometheus' });
const GRID_WIDTH = 24;

interface Target {
  readonly expr: string;
  readonly legend?: string;
  /** Instant query in table format (tables, bar gauges of "now"). */
  readonly instant?: boolean;
  /** Also fetch exemplars (frs_request_duration_seconds carries the FRS request id). */
  readonly exemplar?: boolean;
}

type Step = dashboard.Threshold;

/** A field override as Grafana's schema types it. */
interface Override {
  readonly matcher: dashboard.MatcherConfig;
  readonly properties: dashboard.DynamicConfigValue[];
}

/** What the dashboard functions below say about a panel; `panel()` turns it into an SDK builder. */
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
  readonly overrides?: readonly Override[];
  readonly transformations?: readonly dashboard.DataTransformerConfig[];
  readonly mappings?: readonly dashboard.ValueMapping[];
  /** Bar charts: the field on the x axis. */
  readonly xField?: string;
}

const green = (value: number | null = null): Step => ({ color: 'green', value });
const red = (value: number | null = null): Step => ({ color: 'red', value });
const orange = (value: number | null): Step => ({ color: 'orange', value });

/** Steps for "higher is worse": green, orange from `warnAt`, red from `limit`. */
const upTo = (limit: number, warnAt?: number): Step[] =>
  warnAt === undefined ? [green(), red(limit)] : [green(), orange(warnAt), red(limit)];
/** Steps for "lower is worse": red below `limit`, green above. */
const downTo = (limit: number): Step[] => [red(), green(limit)];

const thresholdsValue = (steps: readonly Step[]): dashboard.ThresholdsConfig => ({ mode: dashboard.ThresholdsMode.Absolute, steps: [...steps] });

/** Dashes the series whose display name matches, e.g. quotas and timeouts drawn beside usage. */
const dashed = (regex: string): Override => ({
  matcher: { id: 'byRegexp', options: regex },
  properties: [
    { id: 'custom.lineStyle', value: new common.LineStyleBuilder().fill('dash').dash([10, 10]).build() },
    { id: 'custom.fillOpacity', value: 0 },
  ],
});

/** Unit (and optional other properties) of one column of a merged table. */
const column = (name: string, unit: string, extra: dashboard.DynamicConfigValue[] = []): Override => ({
  matcher: { id: 'byName', options: name },
  properties: [{ id: 'unit', value: unit }, ...extra],
});

/** 0/1 of frs_billing_month_final shown as words. */
const MONTH_STATUS: dashboard.ValueMapping = {
  type: dashboard.MappingType.ValueToText,
  options: { '0': { text: 'provisional', color: 'orange', index: 0 }, '1': { text: 'final', color: 'green', index: 1 } },
};

/**
 * Turns instant queries A, B, … into one table: names the value columns, drops the time column,
 * then merges rows with equal labels or, when the queries carry different labels, joins them on
 * `joinOn` (e.g. a per-month status beside per-month-and-mode amounts).
 */
const mergeColumns = (names: Record<string, string>, joinOn?: string): dashboard.DataTransformerConfig[] => [
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

/** The builder methods every panel type shares (all SDK panel builders have them). */
type AnyPanelBuilder = timeseries.PanelBuilder | stat.PanelBuilder | bargauge.PanelBuilder | table.PanelBuilder | barchart.PanelBuilder;

/** Places panels left to right in rows of 24 columns, numbering them. */
class Layout {
  private x = 0;
  private y = 0;
  private lineHeight = 0;
  private nextId = 1;
  private readonly items: ({ row: dashboard.RowBuilder } | { panel: AnyPanelBuilder })[] = [];

  row(title: string): void {
    this.newLine();
    this.items.push({ row: new dashboard.RowBuilder(title).id(this.nextId++).collapsed(false).gridPos({ h: 1, w: GRID_WIDTH, x: 0, y: this.y }) });
    this.y += 1;
  }

  add(spec: PanelSpec): void {
    if (this.x + spec.w > GRID_WIDTH) this.newLine();
    const b = panel(spec);
    b.id(this.nextId++).gridPos({ h: spec.h, w: spec.w, x: this.x, y: this.y });
    this.items.push({ panel: b });
    this.x += spec.w;
    this.lineHeight = Math.max(this.lineHeight, spec.h);
  }

  /** Adds the rows and panels, in order, to a dashboard builder. */
  into(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
    for (const item of this.items) {
      if ('row' in item) d.withRow(item.row);
      else d.withPanel(item.panel);
    }
    return d;
  }

  private newLine(): void {
    if (this.x > 0) this.y += this.lineHeight;
    this.x = 0;
    this.lineHeight = 0;
  }
}

function query(t: Target, i: number): prometheus.DataqueryBuilder {
  const q = new prometheus.DataqueryBuilder()
    .refId(String.fromCharCode(65 + i))
    .datasource(DATASOURCE)
    .editorMode(prometheus.QueryEditorMode.Code)
    .expr(t.expr)
    .legendFormat(t.legend ?? '__auto')
    .format(t.instant ? prometheus.PromQueryFormat.Table : prometheus.PromQueryFormat.TimeSeries);
  if (t.exemplar) q.exemplar(true);
  return t.instant ? q.instant() : q.range();
}

const lastValue = (): common.ReduceDataOptionsBuilder => new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).fields('').values(false);

/** The type-specific builder with the options frs-meter uses for that type. */
function typed(s: PanelSpec): AnyPanelBuilder {
  switch (s.type) {
    case 'timeseries':
      return new timeseries.PanelBuilder()
        .drawStyle(common.GraphDrawStyle.Line)
        .lineWidth(1)
        .fillOpacity(10)
        .showPoints(common.VisibilityMode.Never)
        .spanNulls(false)
        .thresholdsStyle(new common.GraphThresholdsStyleConfigBuilder().mode(s.steps ? common.GraphThresholdsStyleMode.Dashed : common.GraphThresholdsStyleMode.Off))
        .legend(new common.VizLegendOptionsBuilder().displayMode(common.LegendDisplayMode.Table).placement(common.LegendPlacement.Bottom).showLegend(true).calcs(['lastNotNull', 'max']))
        .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending));
    case 'stat':
      return new stat.PanelBuilder()
        .reduceOptions(lastValue())
        .colorMode(common.BigValueColorMode.Background)
        .graphMode(common.BigValueGraphMode.Area)
        .justifyMode(common.BigValueJustifyMode.Auto)
        .orientation(common.VizOrientation.Auto)
        .textMode(common.BigValueTextMode.Auto);
    case 'bargauge':
      return new bargauge.PanelBuilder()
        .reduceOptions(lastValue())
        .displayMode(common.BarGaugeDisplayMode.Gradient)
        .orientation(common.VizOrientation.Horizontal)
        .showUnfilled(true)
        .valueMode(common.BarGaugeValueMode.Color)
        .minVizHeight(16);
    case 'table':
      return new table.PanelBuilder()
        .showHeader(true)
        .cellHeight(common.TableCellHeight.Sm)
        .footer(new common.TableFooterOptionsBuilder().show(false).reducer(['sum']).fields([]))
        .align(common.FieldTextAlignment.Auto)
        .cellOptions({ type: common.TableCellDisplayMode.ColorText });
    case 'barchart': {
      const b = new barchart.PanelBuilder()
        .orientation(common.VizOrientation.Auto)
        .showValue(common.VisibilityMode.Auto)
        .stacking(common.StackingMode.None)
        .xTickLabelRotation(0)
        .legend(new common.VizLegendOptionsBuilder().displayMode(common.LegendDisplayMode.List).placement(common.LegendPlacement.Bottom).showLegend(true).calcs([]))
        .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.None));
      return s.xField ? b.xField(s.xField) : b;
    }
  }
}

function panel(s: PanelSpec): AnyPanelBuilder {
  const b = typed(s);
  // Each call below is on the union of builders; TypeScript checks it against every member.
  b.title(s.title).description(s.description).datasource(DATASOURCE);
  if (s.unit !== undefined) b.unit(s.unit);
  if (s.min !== undefined) b.min(s.min);
  if (s.max !== undefined) b.max(s.max);
  if (s.decimals !== undefined) b.decimals(s.decimals);
  const colors = s.type === 'timeseries' || s.type === 'barchart' ? dashboard.FieldColorModeId.PaletteClassic : dashboard.FieldColorModeId.Thresholds;
  b.colorScheme(new dashboard.FieldColorBuilder().mode(colors));
  b.thresholds(new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps([...(s.steps ?? [green()])]));
  b.mappings([...(s.mappings ?? [])]);
  b.overrides([...(s.overrides ?? [])].map((o) => ({ matcher: o.matcher, properties: o.properties })));
  if (s.transformations) b.transformations([...s.transformations]);
  s.targets.forEach((t, i) => b.withTarget(query(t, i)));
  return b;
}

function variable(name: string, label: string, q: string): dashboard.QueryVariableBuilder {
  return new dashboard.QueryVariableBuilder(name)
    .label(label)
    .datasource(DATASOURCE)
    .query({ qryType: 1, query: q, refId: 'PrometheusVariableQueryEditor-VariableQuery' })
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .regex('')
    .sort(dashboard.VariableSort.AlphabeticalAsc)
    .multi(true)
    .includeAll(true)
    .allValue('.*')
    .current({ selected: true, text: ['All'], value: ['$__all'] })
    .hide(dashboard.VariableHide.DontHide);
}

const OPERATION_VAR = variable('operation', 'Operation', 'label_values(frs_requests_total, operation)');
const APP_VAR = variable('app', 'App', 'label_values(frs_requests_total{operation=~"$operation"}, app)');

function build(uid: string, title: string, description: string, layout: Layout, variables: dashboard.QueryVariableBuilder[]): dashboard.Dashboard {
  const d = new dashboard.DashboardBuilder(title)
    .id(null)
    .uid(uid)
    .description(description)
    .tags(['frs-meter'])
    .timezone('browser')
    .editable()
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .fiscalYearStartMonth(0)
    .liveNow(false)
    .refresh('30s')
    .version(1)
    .time({ from: 'now-6h', to: 'now' })
    .weekStart('')
    .link(
      new dashboard.DashboardLinkBuilder('FRS dashboards')
        .type(dashboard.DashboardLinkType.Dashboards)
        .tags(['frs-meter'])
        .asDropdown(false)
        .includeVars(true)
        .keepTime(true)
        .icon('external link')
        .targetBlank(false)
        .tooltip('')
        .url(''),
    )
    .annotation(
      new dashboard.AnnotationQueryBuilder()
        .name('FRS alerts')
        .datasource(DATASOURCE)
        .enable(true)
        .hide(false)
        .iconColor('red')
        // Grafana 11.6's schema types only `expr` of a Prometheus annotation (no title or
        // text format), so the annotation shows the alert's labels as Grafana formats them.
        .expr('ALERTS{alertstate="firing", alertname=~"Frs.+"}'),
    );
  for (const v of variables) d.withVariable(v);
  return layout.into(d).build();
}

const pct = (r: number): string => `${Number((r * 100).toFixed(4))}%`;

function operationsDashboard(t: Thresholds): dashboard.Dashboard {
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
  const an = t.errorAnomaly;
  l.add({
    type: 'timeseries', title: 'Error code share vs its usual (same hours, last 7 days)', w: 24, h: 8, unit: 'percentunit', min: 0,
    description: `Each error code's share of an operation's requests over the last ${an.window} (solid) beside its share in the same hours of the last 7 days (dashed), from the recording rules behind FrsErrorCodeAnomaly: it fires above ${an.factor}× the dashed line and ${pct(an.minRatio)}, with at least ${an.minRequests} requests, for ${an.for}. Client mistakes count here.`,
    targets: [
      { expr: `max by (operation, error_code) (${ERROR_ANOMALY.ratio}{${op}})`, legend: '{{operation}} {{error_code}} now' },
      { expr: `max by (operation, error_code) (${ERROR_ANOMALY.baseline}{${op}})`, legend: '{{operation}} {{error_code}} usual' },
    ],
    overrides: [dashed('.* usual')],
  });

  l.row('Latency');
  l.add({
    type: 'timeseries', title: 'Client-seen latency p50 / p95 / p99', w: 12, h: 9, unit: 's',
    description: 'Time the client waited, retries included (frs_request_duration_seconds). The dots are exemplars: each names the X-Request-Id of one real call in that latency bucket, the id to look up in logs or quote to Huawei support.',
    targets: quantiles('frs_request_duration_seconds', [0.5, 0.95, 0.99]).map((t) => ({ ...t, exemplar: true })),
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

  l.add({
    type: 'timeseries', title: 'QPS shaping: delayed and rejected calls', w: 12, h: 8, unit: 'reqps', min: 0,
    description: 'Calls frs-meter\'s own QPS shaping held back: `delayed` waited for a free slot, `rejected` got METER.0429 and never reached FRS (frs_qps_shaped_total).',
    targets: [{ expr: `sum by (operation, result) (rate(frs_qps_shaped_total{${op}}[$__rate_interval]))`, legend: '{{operation}} {{result}}' }],
  });
  l.add({
    type: 'timeseries', title: 'QPS coordination: share per replica', w: 12, h: 8, unit: 'short', min: 0,
    description: 'Each replica\'s share of the QPS quota (frs_qps_replica_share; FRS_METER_QPS_COORDINATION=postgres, and redis\'s fallback), the live replicas each one sees (frs_qps_coordination_replicas), and calls shaped on the fallback share because Redis was unreachable (frs_qps_coordination_fallback_calls_total).',
    targets: [
      { expr: `max by (instance, operation) (frs_qps_replica_share{${op}})`, legend: '{{instance}} {{operation}} share' },
      { expr: 'max by (instance) (frs_qps_coordination_replicas)', legend: '{{instance}} live replicas' },
      { expr: `sum by (operation) (rate(frs_qps_coordination_fallback_calls_total{${op}}[$__rate_interval]))`, legend: '{{operation}} fallback calls/s' },
    ],
  });
  l.add({
    type: 'timeseries', title: 'QPS saturation over time', w: 12, h: 8, unit: 'percentunit', min: 0,
    steps: upTo(t.qpsSaturation.ratio, t.qpsSaturation.ratio * 0.75),
    description: `Peak / quota as each replica computes it (frs_qps_saturation_ratio); the dashed line is the FrsQpsSaturationHigh limit (${pct(t.qpsSaturation.ratio)}).`,
    targets: [{ expr: `max by (operation) (frs_qps_saturation_ratio{${op}})`, legend: '{{operation}}' }],
  });
  l.add({
    type: 'timeseries', title: 'FRS rate-limit headers vs our counts', w: 24, h: 8, unit: 'short', min: 0,
    description: 'What FRS said in its last answer per operation (X-ratelimit, documented as the total flow-control quota; X-ratelimit-used, documented as "remaining requests"; the window from X-ratelimit-window) beside our own upstream attempts over one such window at the current rate, and our QPS quota × the window (dashed). The headers\' exact meaning is uncertain, so this is for comparison, never alerted on. Empty while FRS sends no such headers.',
    targets: [
      { expr: `max by (operation) (frs_upstream_ratelimit{${op}})`, legend: '{{operation}} X-ratelimit' },
      { expr: `max by (operation) (frs_upstream_ratelimit_used{${op}})`, legend: '{{operation}} X-ratelimit-used' },
      { expr: `sum by (operation) (rate(frs_upstream_attempts_total{${op}, outcome=~"success|client_error|server_error|throttled"}[$__rate_interval])) * on (operation) max by (operation) (frs_upstream_ratelimit_window_seconds{${op}})`, legend: '{{operation}} our attempts per window (current rate)' },
      { expr: `max by (operation) (frs_qps_quota{${op}}) * on (operation) max by (operation) (frs_upstream_ratelimit_window_seconds{${op}})`, legend: '{{operation}} our QPS quota × window' },
    ],
    overrides: [dashed('.*quota × window')],
  });

  l.row('Usage buffer');
  l.add({
    type: 'timeseries', title: 'Usage events waiting for the database', w: 8, h: 7, unit: 'short', min: 0,
    description: 'Usage recorded in memory but not yet flushed to Postgres, per replica. Grows while Postgres is unreachable.',
    targets: [{ expr: 'max by (instance) (frs_usage_pending_events)', legend: '{{instance}}' }],
  });
  l.add({
    type: 'timeseries', title: 'Time since the last usage flush', w: 8, h: 7, unit: 's', min: 0,
    steps: upTo(t.usageFlushStalled.seconds),
    description: `FrsUsageFlushStalled fires when events wait and this is above ${t.usageFlushStalled.seconds}s for ${t.usageFlushStalled.for}.`,
    targets: [{ expr: 'time() - max by (instance) (frs_usage_last_flush_timestamp_seconds)', legend: '{{instance}}' }],
  });
  l.add({
    type: 'timeseries', title: 'Upstream connection pool', w: 8, h: 7, unit: 'short', min: 0,
    description: 'Connections to FRS per state, summed over replicas (frs_upstream_pool_connections): `pending` requests waiting for a connection mean the pool is the bottleneck.',
    targets: [{ expr: 'sum by (state) (frs_upstream_pool_connections)', legend: '{{state}}' }],
  });

  return build('frs-operations', 'FRS operations', 'Traffic, errors, latency, retries and QPS of the FRS calls going through frs-meter.', l, [OPERATION_VAR, APP_VAR]);
}

function quotaDashboard(t: Thresholds): dashboard.Dashboard {
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
      column('Left', 'percentunit', [{ id: 'thresholds', value: thresholdsValue(downTo(t.callPackageLow.ratio)) }]),
      column('Forecast exhaustion', 'dateTimeAsIso'),
      column('Runs out in', 'd', [{ id: 'decimals', value: 1 }, { id: 'thresholds', value: thresholdsValue(downTo(days(t.callPackageExhaustion.days))) }]),
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
      column('Days to expiry', 'd', [{ id: 'decimals', value: 1 }, { id: 'thresholds', value: thresholdsValue(downTo(t.qpsPackageExpiry.days)) }]),
    ],
  });
  l.add({
    type: 'bargauge', title: 'Days until a QPS package expires', w: 12, h: 8, unit: 'd', decimals: 1,
    steps: downTo(t.qpsPackageExpiry.days),
    description: `FrsQpsPackageExpiring fires below ${t.qpsPackageExpiry.days} days; after expiry the operation falls back to the default quota.`,
    targets: [{ expr: qpsDays, legend: '{{operation}}', instant: true }],
  });
  l.add({
    type: 'timeseries', title: 'Calls a package did not cover: QPS overflow and possibly billed', w: 24, h: 8, unit: 'reqps', min: 0,
    description:
      "QPS overflow: valid calls over the QPS package's rate in their sliding second — FRS bills them on demand (or from a call package), not from the QPS package. " +
      "Possibly billed: attempts cut at the proxy's timeout or with the connection lost after sending — FRS may have completed and billed them; free calls left and package balances count them as used.",
    targets: [
      { expr: `sum by (operation) (rate(frs_qps_overflow_calls_total{${op}}[$__rate_interval]))`, legend: 'overflow {{operation}}' },
      { expr: `sum by (operation) (rate(frs_possibly_billed_calls_total{${op}}[$__rate_interval]))`, legend: 'possibly billed {{operation}}' },
    ],
  });

  l.row('Budgets');
  l.add({
    type: 'bargauge', title: 'Budget used (per app)', w: 12, h: 8, unit: 'percentunit', min: 0, max: 1,
    steps: upTo(1, 0.8),
    description: 'Share of each app\'s monthly budget used, in calls or amount (frs_app_budget_used_ratio, metered). FrsBudgetThresholdCrossed fires at the budget\'s own alert_thresholds (frs_app_budget_threshold_crossed_ratio), FrsBudgetExhausted at 100%.',
    targets: [
      { expr: 'max by (app, kind) (frs_app_budget_used_ratio)', legend: '{{app}} {{kind}}', instant: true },
      { expr: 'max by (app, kind) (frs_app_budget_threshold_crossed_ratio)', legend: '{{app}} {{kind}} threshold crossed', instant: true },
    ],
  });
  l.add({
    type: 'timeseries', title: 'Budget remaining', w: 12, h: 8, unit: 'short', min: 0,
    description: 'What is left of each app\'s monthly budget: calls, or amount in the price table\'s currency (frs_app_budget_remaining). FrsBudgetForecastExhausted extrapolates this line to the end of the month.',
    targets: [{ expr: 'max by (app, kind) (frs_app_budget_remaining)', legend: '{{app}} {{kind}}' }],
  });

  return build('frs-quota', 'FRS quota and packages', 'Free calls, month-to-date billable calls, call packages and QPS packages.', l, [OPERATION_VAR]);
}

function billingDashboard(t: Thresholds): dashboard.Dashboard {
  const op = 'operation=~"$operation"';
  const tol = t.reconciliation.toleranceCalls;
  const l = new Layout();

  l.row('Forecast');
  l.add({
    type: 'timeseries', title: 'Forecast amount this month (80% band)', w: 12, h: 8, unit: 'currency:¥', min: 0,
    description: 'Month-end pay-per-use amount as GET /admin/forecast projects it: the middle forecast and the 10th/90th percentiles (dashed). From the weekday × hour profile of recent weeks, played through the drawdown engine (README: Forecasts and advice).',
    targets: [
      { expr: 'max by (quantile) (frs_forecast_month_amount)', legend: 'q{{quantile}}' },
    ],
    overrides: [dashed('q0\\.[19]')],
  });
  l.add({
    type: 'timeseries', title: 'Forecast calls this month by operation (80% band)', w: 12, h: 8, unit: 'short', min: 0,
    description: 'Month-end valid calls per operation as GET /admin/forecast projects them, middle and 10th/90th percentiles (dashed).',
    targets: [
      { expr: 'max by (operation, quantile) (frs_forecast_month_calls{operation=~"$operation"})', legend: '{{operation}} q{{quantile}}' },
    ],
    overrides: [dashed('.* q0\\.[19]')],
  });

  l.row('Bills');
  l.add({
    type: 'barchart', title: 'Billed amount by month', w: 12, h: 9, unit: 'currency:¥', min: 0,
    description: 'Total of the monthly bills pulled from the BSS billing API (main currency unit, CNY on the China site).',
    targets: [{ expr: 'sum by (bill_cycle) (max by (bill_cycle, charging_mode) (frs_billing_amount))', instant: true }],
    transformations: mergeColumns({ A: 'Amount' }),
    xField: 'bill_cycle',
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
      column('Month', 'none', [{ id: 'mappings', value: [MONTH_STATUS] }]),
    ],
  });

  l.row('Reconciliation');
  const recSteps = [red(), green(-tol), red(tol + 1)];
  l.add({
    type: 'table', title: 'Reconciliation difference (metered minus billed calls)', w: 12, h: 9,
    description: `Calls frs-meter metered minus calls Huawei billed, per month and operation, and the part of it nothing explains (QPS package, possibly-billed attempts and gateway timeouts are explanations). On a final month an unexplained part beyond ${tol} calls fires FrsReconciliationMismatch.`,
    targets: [
      { expr: `max by (bill_cycle, operation) (frs_reconciliation_difference_calls{${op}})`, instant: true },
      { expr: 'max by (bill_cycle) (frs_billing_month_final)', instant: true },
      { expr: `max by (bill_cycle, operation) (frs_reconciliation_unexplained_calls{${op}})`, instant: true },
    ],
    transformations: mergeColumns({ A: 'Difference (calls)', B: 'Month', C: 'Unexplained (calls)' }, 'bill_cycle'),
    overrides: [
      column('Unexplained (calls)', 'short', [{ id: 'thresholds', value: thresholdsValue(recSteps) }]),
      column('Month', 'none', [{ id: 'mappings', value: [MONTH_STATUS] }]),
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

  return build('frs-billing', 'FRS billing', 'Monthly bills from Huawei, their reconciliation with metered calls, and chargeback per app.', l, [OPERATION_VAR, APP_VAR]);
}

/** File name → dashboard JSON model. */
export function buildDashboards(t: Thresholds = loadThresholds()): Record<string, dashboard.Dashboard> {
  return {
    'frs-operations.json': operationsDashboard(t),
    'frs-quota.json': quotaDashboard(t),
    'frs-billing.json': billingDashboard(t),
  };
}

export function renderDashboard(d: dashboard.Dashboard): string {
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
