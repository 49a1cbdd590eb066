// The Grafana dashboards: generated files up to date, Grafana 11 JSON model, datasource by uid,
// variables defined, a sane grid, and every query keeping to the metric contract.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { buildDashboards, DATASOURCE, renderDashboard } from '../../grafana/generate-dashboards';
import { loadThresholds } from '../../prometheus/thresholds';
import { FRS_METRICS } from './metrics-contract';
import { checkExpr, familyOf, selectors } from './promql';
import {
  annotationQueries,
  GRAFANA_BUILTINS,
  Json,
  labelValuesToPromQL,
  loadDashboards,
  panelQueries,
  panelsOf,
  REPO,
  substitute,
  usedVariables,
  variableQueries,
} from './queries';

const dashboards = loadDashboards();
const byUid = (uid: string): Json => dashboards.find((d) => d.json.uid === uid)?.json;
const metricsOf = (d: Json): Set<string> =>
  new Set(panelQueries(d).flatMap((q) => selectors(q.expr).map((s) => familyOf(s.metric))));
const panelByTitle = (d: Json, title: string): Json => panelsOf(d).find((p) => p.type !== 'row' && p.title === title);

describe('generated dashboards', () => {
  test('the committed JSON is what grafana/generate-dashboards.ts writes from thresholds.yml', () => {
    const built = buildDashboards();
    expect(dashboards.map((d) => d.file)).toEqual(Object.keys(built).sort());
    for (const [file, d] of Object.entries(built)) {
      const committed = readFileSync(join(REPO, 'grafana', 'dashboards', file), 'utf8');
      // On failure: npx ts-node --transpile-only grafana/generate-dashboards.ts
      expect({ file, stale: committed !== renderDashboard(d) }).toEqual({ file, stale: false });
    }
  });

  test('the three dashboards exist with stable uids', () => {
    expect(dashboards.map((d) => [d.json.uid, d.json.title]).sort()).toEqual([
      ['frs-billing', 'FRS billing'],
      ['frs-operations', 'FRS operations'],
      ['frs-quota', 'FRS quota and packages'],
    ]);
  });
});

describe.each(dashboards.map((d) => [d.file, d.json] as [string, Json]))('%s', (_file, d) => {
  test('is a Grafana 11 dashboard model', () => {
    expect(d.schemaVersion).toBeGreaterThanOrEqual(39);
    expect(d.id).toBeNull();
    expect(typeof d.uid).toBe('string');
    expect(d.uid.length).toBeLessThanOrEqual(40);
    expect(d.tags).toContain('frs-meter');
  });

  test('names the provisioned datasource by uid everywhere', () => {
    const provisioned = parse(readFileSync(join(REPO, 'grafana', 'provisioning', 'datasources', 'prometheus.yml'), 'utf8'));
    const prom = provisioned.datasources.find((x: Json) => x.type === 'prometheus');
    expect(DATASOURCE).toEqual({ type: 'prometheus', uid: prom.uid });
    const refs: Json[] = [];
    for (const p of panelsOf(d)) {
      if (p.type === 'row') continue;
      refs.push(p.datasource, ...p.targets.map((t: Json) => t.datasource));
    }
    refs.push(...d.templating.list.map((v: Json) => v.datasource), ...d.annotations.list.map((a: Json) => a.datasource));
    expect(refs.length).toBeGreaterThan(0);
    for (const r of refs) expect(r).toEqual({ type: 'prometheus', uid: prom.uid });
    expect(JSON.stringify(d)).not.toMatch(/\$\{DS_|"datasource":\s*"/);
  });

  test('defines every variable its queries use, with label_values queries', () => {
    const defined = new Set<string>(d.templating.list.map((v: Json) => v.name));
    const exprs = [
      ...panelQueries(d).map((q) => q.expr),
      ...variableQueries(d).map((v) => v.query),
      ...annotationQueries(d).map((a) => a.expr),
    ];
    for (const expr of exprs) {
      for (const v of usedVariables(expr)) {
        expect({ expr, variable: v, defined: defined.has(v) || v in GRAFANA_BUILTINS }).toEqual({ expr, variable: v, defined: true });
      }
    }
    for (const v of variableQueries(d)) {
      expect(v.query).toMatch(/^label_values\(/);
      expect(checkExpr(labelValuesToPromQL(v.query))).toEqual([]);
    }
    expect(defined.has('operation')).toBe(true);
  });

  test('has unique panel ids and a grid without overlaps', () => {
    const panels = panelsOf(d);
    expect(panels.length).toBeGreaterThan(5);
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const boxes = panels.map((p) => ({ id: p.id, ...p.gridPos }));
    for (const b of boxes) {
      expect(Number.isInteger(b.x) && Number.isInteger(b.y) && Number.isInteger(b.w) && Number.isInteger(b.h)).toBe(true);
      expect(b.w).toBeGreaterThan(0);
      expect(b.h).toBeGreaterThan(0);
      expect(b.x).toBeGreaterThanOrEqual(0);
      expect(b.x + b.w).toBeLessThanOrEqual(24);
    }
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i];
        const b = boxes[j];
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        expect({ a: a.id, b: b.id, overlap }).toEqual({ a: a.id, b: b.id, overlap: false });
      }
    }
  });

  test('every panel queries something and every query keeps to the metric contract', () => {
    for (const p of panelsOf(d)) {
      if (p.type === 'row') continue;
      expect({ panel: p.title, targets: p.targets.length > 0 }).toEqual({ panel: p.title, targets: true });
      const refIds = p.targets.map((t: Json) => t.refId);
      expect(new Set(refIds).size).toBe(refIds.length);
      expect(typeof p.description).toBe('string');
    }
    for (const q of [...panelQueries(d), ...annotationQueries(d).map((a) => ({ panelTitle: a.name, expr: a.expr }))]) {
      expect({ panel: q.panelTitle, expr: q.expr, problems: checkExpr(q.expr) }).toEqual({ panel: q.panelTitle, expr: q.expr, problems: [] });
    }
  });
});

describe('what each dashboard answers (issue #6)', () => {
  test('FRS operations: traffic, errors, latency beside the rolling p99 and timeout, retries, overhead, QPS, throttles', () => {
    const d = byUid('frs-operations');
    expect(d.templating.list.map((v: Json) => v.name)).toEqual(['operation', 'app']);
    const used = metricsOf(d);
    for (const m of [
      'frs_requests_total', 'frs_upstream_attempts_total', 'frs_request_duration_seconds', 'frs_upstream_duration_seconds',
      'frs_proxy_overhead_seconds', 'frs_latency_p99_seconds', 'frs_upstream_timeout_seconds', 'frs_qps_peak', 'frs_qps_quota',
    ]) {
      expect(used).toContain(m);
    }
    const latency = panelByTitle(d, 'Client-seen latency p50 / p95 / p99');
    expect(latency.targets.map((t: Json) => t.expr.match(/histogram_quantile\(([0-9.]+)/)?.[1])).toEqual(['0.5', '0.95', '0.99']);
    const vsTimeout = panelByTitle(d, 'p99 vs timeout in force').targets.map((t: Json) => t.expr).join('\n');
    expect(vsTimeout).toMatch(/frs_latency_p99_seconds/);
    expect(vsTimeout).toMatch(/frs_upstream_timeout_seconds/);
    expect(panelByTitle(d, 'Throttles (FRS.0033)').targets.map((t: Json) => t.expr).join('\n')).toMatch(/outcome="throttled"[\s\S]*FRS\.0033/);
    expect(panelByTitle(d, 'Retry ratio (upstream attempts per request)').targets[0].expr).toMatch(
      /frs_upstream_attempts_total.*\/.*frs_requests_total/,
    );
    expect(panelByTitle(d, 'Requests per second by app').targets[0].expr).toMatch(/sum by \(app\)/);
  });

  test('FRS quota and packages: free calls, month-to-date billable calls, call and QPS packages with dates', () => {
    const d = byUid('frs-quota');
    const used = metricsOf(d);
    for (const m of [
      'frs_free_calls_remaining', 'frs_month_billable_calls', 'frs_call_package_remaining_calls',
      'frs_call_package_exhaustion_timestamp_seconds', 'frs_call_package_expiry_timestamp_seconds',
      'frs_qps_package_expiry_timestamp_seconds', 'frs_qps_quota',
    ]) {
      expect(used).toContain(m);
    }
    const qps = panelByTitle(d, 'QPS packages');
    expect(qps.targets.some((t: Json) => /- time\(\)\) \/ 86400/.test(t.expr))).toBe(true);
    const calls = panelByTitle(d, 'Call packages');
    expect(calls.transformations[0].options.renameByName).toMatchObject({ 'Value #D': 'Forecast exhaustion' });
    expect(calls.targets[3].expr).toMatch(/frs_call_package_exhaustion_timestamp_seconds.*\* 1000/);
  });

  test('FRS billing: amount by month, reconciliation difference, age of the last sync', () => {
    const d = byUid('frs-billing');
    const used = metricsOf(d);
    for (const m of ['frs_billing_amount', 'frs_reconciliation_difference_calls', 'frs_billing_last_sync_timestamp_seconds', 'frs_billable_calls_total']) {
      expect(used).toContain(m);
    }
    expect(panelByTitle(d, 'Age of the last billing sync').targets[0].expr).toBe(
      'time() - max by (kind) (frs_billing_last_sync_timestamp_seconds)',
    );
  });

  test('every metric of the contract is shown on some dashboard, QPS shaping and the upstream pool included', () => {
    const shown = new Set(dashboards.flatMap((d) => [...metricsOf(d.json)]));
    expect(Object.keys(FRS_METRICS).filter((m) => !shown.has(m))).toEqual([]);
    const ops = byUid('frs-operations');
    expect(panelByTitle(ops, 'QPS shaping: delayed and rejected calls').targets[0].expr).toBe(
      'sum by (operation, result) (rate(frs_qps_shaped_total{operation=~"$operation"}[$__rate_interval]))',
    );
    expect(panelByTitle(ops, 'Upstream connection pool').targets[0].expr).toBe('sum by (state) (frs_upstream_pool_connections)');
  });

  test('threshold lines are the alert thresholds of prometheus/thresholds.yml', () => {
    const t = loadThresholds();
    const steps = (d: Json, title: string): number[] =>
      panelByTitle(d, title).fieldConfig.defaults.thresholds.steps.map((s: Json) => s.value).filter((v: number | null) => v !== null);
    const ops = byUid('frs-operations');
    expect(steps(ops, 'QPS saturation')).toContain(t.qpsSaturation.ratio);
    expect(steps(ops, 'Time since the last usage flush')).toEqual([t.usageFlushStalled.seconds]);
    expect(panelsOf(ops).find((p) => p.title.startsWith('Error ratio')).fieldConfig.defaults.thresholds.steps[1].value).toBe(t.errorRatio.ratio);
    const quota = byUid('frs-quota');
    expect(steps(quota, 'Free calls left (% of the allowance)')).toEqual([t.freeCallsLow.ratio]);
    expect(steps(quota, 'Days until a QPS package expires')).toEqual([t.qpsPackageExpiry.days]);
    expect(steps(quota, 'Days until a call package runs out (forecast)')).toEqual([t.callPackageExhaustion.days]);
    expect(steps(byUid('frs-billing'), 'Age of the last billing sync')).toContain(t.billingSyncStale.hours * 3600);
  });
});

describe('query helpers', () => {
  test('substitute() fills template variables and Grafana intervals, and refuses unknown ones', () => {
    expect(
      substitute('sum(rate(frs_requests_total{operation=~"$operation", app=~"${app}"}[$__rate_interval])) [[operation]] $__range_s', {
        operation: '.*',
        app: 'demo',
      }),
    ).toBe('sum(rate(frs_requests_total{operation=~".*", app=~"demo"}[1m])) .* 300');
    expect(() => substitute('frs_qps_peak{operation=~"$op"}', {})).toThrow(/\$op/);
  });

  test('every dashboard query becomes plain PromQL once variables are substituted', () => {
    const all = dashboards.flatMap((d) => panelQueries(d.json));
    expect(all.length).toBeGreaterThan(40);
    for (const q of all) expect(substitute(q.expr, { operation: '.*', app: '.*' })).not.toMatch(/\$|\[\[/);
  });

  test('label_values() turns into a count by the label', () => {
    expect(labelValuesToPromQL('label_values(frs_requests_total{operation=~"$operation"}, app)')).toBe(
      'count by (app) (frs_requests_total{operation=~"$operation"})',
    );
    expect(labelValuesToPromQL('label_values(operation)')).toBe('count by (operation) ({__name__=~".+"})');
  });

  test('checkExpr() catches unknown metrics, labels and label values', () => {
    expect(checkExpr('sum by (operation) (rate(frs_requests_total{app=~"$app"}[5m]))')).toEqual([]);
    expect(checkExpr('histogram_quantile(0.99, sum by (le) (rate(frs_upstream_duration_seconds_bucket[5m])))')).toEqual([]);
    expect(checkExpr('rate(frs_request_total[5m])')).toEqual(['unknown metric frs_request_total (not in test/ops/metrics-contract.ts)']);
    expect(checkExpr('frs_qps_peak{app="x"}')).toEqual(['frs_qps_peak has no label app']);
    expect(checkExpr('sum by (package) (frs_qps_peak)')).toEqual(['groups by package, a label none of its metrics has']);
    expect(checkExpr('frs_upstream_attempts_total{outcome="throttle"}')).toEqual(['unknown outcome "throttle"']);
    expect(checkExpr('frs_qps_quota{operation="face_detection"}')).toEqual(['unknown operation "face_detection"']);
    expect(checkExpr('frs_upstream_duration_seconds')).toEqual([
      'unknown metric frs_upstream_duration_seconds (not in test/ops/metrics-contract.ts)',
    ]);
  });

  test('the contract lists the SPEC §6 metrics and the planned ones', () => {
    const names = Object.keys(FRS_METRICS);
    expect(names.filter((n) => !FRS_METRICS[n].planned)).toHaveLength(27); // SPEC §6's 22, §8's budget pair, and issue 10's unexplained, possibly-billed and overflow
    expect(names.filter((n) => FRS_METRICS[n].planned).sort()).toEqual([
      'frs_app_budget_threshold_crossed_ratio',
      'frs_billing_month_final',
      'frs_call_package_total_calls',
      'frs_forecast_month_amount',
      'frs_forecast_month_calls',
      'frs_free_calls_total',
      'frs_month_end_timestamp_seconds',
      'frs_qps_coordination_fallback_calls_total',
      'frs_qps_coordination_replicas',
      'frs_qps_replica_share',
      'frs_qps_shaped_total',
      'frs_upstream_pool_connections',
      'frs_upstream_ratelimit',
      'frs_upstream_ratelimit_used',
      'frs_upstream_ratelimit_window_seconds',
    ]);
    for (const n of names) {
      expect(n).toMatch(/^frs_[a-z0-9_]+$/);
      if (FRS_METRICS[n].type === 'counter') expect(n).toMatch(/_total$/);
    }
  });
});
