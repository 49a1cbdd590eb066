// End to end for the ops files: a real Prometheus scrapes a running frs-meter every second while
// the emulator serves traffic through the proxy; then every dashboard query and every alert
// expression goes through the Prometheus HTTP API, none may error, and the panels for requests,
// latency, errors, QPS and free calls must show series with plausible values.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { Stack } from '../support/stack';
import { FRS_METRICS } from './metrics-contract';
import { familyOf, selectors } from './promql';
import { alertRules, ALERTS_FILE, allQueries, recordingRules, Json, loadDashboards, panelQueries, REPO, substitute } from './queries';
import { livePrometheusPolicy, PrometheusServer, QueryResult, requireBinary, startPrometheus, waitFor } from './prometheus-server';

const policy = livePrometheusPolicy('live-prometheus');
const describeLive = policy.run ? describe : describe.skip;

const IMAGE_A = Buffer.from('live-prometheus test image A').toString('base64');
const IMAGE_B = Buffer.from('live-prometheus test image B').toString('base64');
const TRAFFIC_MS = 6000;

/** prometheus/prometheus.yml's frs-meter job, pointed at the test service and scraped every second. */
export function liveConfig(target: string): Record<string, unknown> {
  const repo = parse(readFileSync(join(REPO, 'prometheus', 'prometheus.yml'), 'utf8'));
  const job = repo.scrape_configs.find((j: Json) => j.job_name === 'frs-meter');
  if (!job) throw new Error('prometheus/prometheus.yml has no frs-meter job');
  return {
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    rule_files: [ALERTS_FILE],
    scrape_configs: [{ ...job, scrape_interval: '1s', scrape_timeout: '1s', static_configs: [{ targets: [target] }] }],
  };
}

interface TrafficCounts {
  ok: number;
  unauthorized: number;
  other: Record<string, number>;
  /** X-Request-Id of every answer the client got. */
  requestIds: Set<string>;
}

async function driveTraffic(stack: Stack, ms: number): Promise<TrafficCounts> {
  const counts: TrafficCounts = { ok: 0, unauthorized: 0, other: {}, requestIds: new Set() };
  const post = async (path: string, body: unknown, key: string): Promise<void> => {
    const res = await fetch(`${stack.meterUrl}/v2/${stack.projectId}/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-auth-token': key },
      body: JSON.stringify(body),
    });
    await res.arrayBuffer();
    const id = res.headers.get('x-request-id');
    if (id) counts.requestIds.add(id);
    if (res.status === 200) counts.ok++;
    else if (res.status === 401) counts.unauthorized++;
    else counts.other[res.status] = (counts.other[res.status] ?? 0) + 1;
  };
  const until = Date.now() + ms;
  for (let i = 0; i < 300 && Date.now() < until; i++) {
    await Promise.all([
      post('face-detect', { image_base64: IMAGE_A }, stack.apiKey),
      post('face-detect', { image_base64: IMAGE_B }, stack.apiKey),
      post('face-compare', { image1_base64: IMAGE_A, image2_base64: IMAGE_B }, stack.apiKey),
      ...(i % 3 === 0 ? [post('face-detect', { image_base64: IMAGE_A }, 'not-a-valid-app-key')] : []),
    ]);
    await new Promise((r) => setTimeout(r, 100));
  }
  return counts;
}

const values = (r: QueryResult): number[] => r.result.map((s) => Number(s.value?.[1]));

describeLive('dashboards and alerts against a running frs-meter', () => {
  let stack: Stack | undefined;
  let prom: PrometheusServer | undefined;
  let traffic: TrafficCounts;
  let exposition = '';

  beforeAll(async () => {
    const bin = requireBinary(policy.bin);
    const { startStack } = await import('../support/stack');
    stack = await startStack();
    const meter = new URL(stack.meterUrl);
    const host = ['0.0.0.0', '[::]', '::'].includes(meter.hostname) ? '127.0.0.1' : meter.hostname;
    prom = await startPrometheus({ bin, config: liveConfig(`${host}:${meter.port}`) });
    const p = prom;
    await waitFor('the first scrape of frs-meter', async () => values(await p.query('up{job="frs-meter"}'))[0] === 1, 15_000);
    traffic = await driveTraffic(stack, TRAFFIC_MS);
    // Two scrapes after the last request, so every counter has its final value in the TSDB.
    const expected = traffic.ok + traffic.unauthorized;
    await waitFor(
      'the traffic in Prometheus',
      async () => (values(await p.query('sum(frs_requests_total{job="frs-meter"})'))[0] ?? 0) >= expected,
      10_000,
    );
    await new Promise((r) => setTimeout(r, 2000));
    exposition = await (await fetch(`${stack.meterUrl}/metrics`)).text();
  }, 55_000);

  afterAll(async () => {
    await prom?.stop();
    await stack?.stop();
  });

  test('the traffic went through the proxy: successes and 401s for the bad key', () => {
    // 429 is allowed: the bursts can pass the emulator's default 10 QPS, as they would FRS's.
    expect(Object.keys(traffic.other).filter((status) => status !== '429')).toEqual([]);
    expect(traffic.ok).toBeGreaterThan(30);
    expect(traffic.unauthorized).toBeGreaterThan(5);
  });

  test('frs-meter exposes every metric the dashboards and alerts use, with the contract type', () => {
    const types = new Map([...exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
    const used = new Set<string>();
    for (const { json } of loadDashboards()) for (const q of panelQueries(json)) selectors(q.expr).forEach((s) => used.add(familyOf(s.metric)));
    for (const r of alertRules()) selectors(r.expr).forEach((s) => used.add(familyOf(s.metric)));
    const missing = [...used].filter((m) => FRS_METRICS[m] && types.get(m) !== FRS_METRICS[m].type);
    expect(missing.map((m) => `${m}: expected ${FRS_METRICS[m].type}, exposed ${types.get(m) ?? 'nothing'}`)).toEqual([]);
  });

  test('every dashboard query and alert expression runs without error', async () => {
    const apps = await prom!.query('count by (app) (frs_requests_total{error_code="none"})');
    const app = apps.result.map((s) => s.metric.app).find((a) => a !== undefined) ?? 'test-app';
    for (const vals of [{ operation: '.*', app: '.*' }, { operation: 'face_detect', app }]) {
      for (const q of allQueries(vals)) {
        const res = await prom!.query(q.expr);
        expect({ where: q.where, error: res.error ?? null }).toEqual({ where: q.where, error: null });
      }
    }
  });

  test('the alert rules load and evaluate healthy on real metrics', async () => {
    const res = await prom!.api<{ data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] } }>('/api/v1/rules');
    const rules = res.data.groups.flatMap((g) => g.rules);
    expect(rules).toHaveLength(alertRules().length + recordingRules().length);
    for (const r of rules) expect({ rule: r.name, health: r.health, lastError: r.lastError ?? '' }).toEqual({ rule: r.name, health: 'ok', lastError: '' });
  });

  test('the request-duration histogram carries request ids as exemplars, read back from Prometheus', async () => {
    const end = Math.ceil(Date.now() / 1000);
    const res = await prom!.api<{ status: string; data: { seriesLabels: Record<string, string>; exemplars: { labels: Record<string, string>; value: string }[] }[] }>(
      `/api/v1/query_exemplars?query=${encodeURIComponent('frs_request_duration_seconds_bucket{operation="face_detect",outcome="success"}')}&start=${end - 120}&end=${end}`,
    );
    expect(res.status).toBe('success');
    const exemplars = res.data.flatMap((s) => s.exemplars.map((e) => ({ ...e, le: s.seriesLabels.le })));
    expect(exemplars.length).toBeGreaterThan(0);
    // Each exemplar names a call the client made: the X-Request-Id FRS (here the emulator) answered with.
    for (const e of exemplars) {
      expect(traffic.requestIds.has(e.labels.request_id)).toBe(true);
      expect(Number(e.value)).toBeGreaterThan(0);
      expect(Number(e.value)).toBeLessThanOrEqual(e.le === '+Inf' ? Infinity : Number(e.le));
    }
  });

  describe('panels that must show data', () => {
    const run = async (dashboard: string, title: string, vars = { operation: '.*', app: '.*' }): Promise<QueryResult[]> => {
      const d = loadDashboards().find((x) => x.json.uid === dashboard);
      const queries = panelQueries(d!.json).filter((q) => q.panelTitle === title);
      expect(queries.length).toBeGreaterThan(0);
      return Promise.all(queries.map((q) => prom!.query(substitute(q.expr, vars))));
    };
    const byLabel = (r: QueryResult, label: string): Record<string, number> =>
      Object.fromEntries(r.result.map((s) => [s.metric[label], Number(s.value?.[1])]));

    test('requests per second by operation', async () => {
      const [r] = await run('frs-operations', 'Requests per second by operation');
      const rates = byLabel(r, 'operation');
      expect(rates.face_detect).toBeGreaterThan(0);
      expect(rates.face_compare).toBeGreaterThan(0);
      const [only] = await run('frs-operations', 'Requests per second by operation', { operation: 'face_compare', app: '.*' });
      expect(Object.keys(byLabel(only, 'operation'))).toEqual(['face_compare']);
    });

    test('client-seen latency quantiles', async () => {
      const results = await run('frs-operations', 'Client-seen latency p50 / p95 / p99');
      expect(results).toHaveLength(3);
      const [p50, , p99] = results.map((r) => byLabel(r, 'operation'));
      expect(p99.face_detect).toBeGreaterThan(0);
      expect(p99.face_detect).toBeLessThan(5);
      expect(p50.face_detect).toBeLessThanOrEqual(p99.face_detect);
    });

    test('error codes over time show the rejected key', async () => {
      const [r] = await run('frs-operations', 'Error codes over time');
      expect(byLabel(r, 'error_code')['METER.0401']).toBeGreaterThan(0);
      expect(Object.keys(byLabel(r, 'error_code'))).not.toContain('none');
    });

    test('QPS peak against the quota', async () => {
      const [peak, quota] = await run('frs-operations', 'QPS peak vs quota');
      expect(byLabel(peak, 'operation').face_detect).toBeGreaterThan(0);
      expect(byLabel(quota, 'operation').face_detect).toBeGreaterThan(0);
    });

    test("FRS's rate-limit headers beside our own counts", async () => {
      const [limit, used, ours, quota] = await run('frs-operations', 'FRS rate-limit headers vs our counts');
      // The emulator's reading of the headers: a minute window, quota = its per-second limit × 60.
      const qps = (await (await fetch(`${stack!.emulatorUrl}/__emulator/qps`)).json()) as Record<string, number>;
      expect(byLabel(limit, 'operation').face_detect).toBe(60 * qps.face_detect);
      expect(byLabel(used, 'operation').face_detect).toBeGreaterThan(0);
      expect(byLabel(ours, 'operation').face_detect).toBeGreaterThan(0);
      expect(byLabel(quota, 'operation').face_detect).toBeGreaterThan(0);
    });

    test('free calls left per operation', async () => {
      const [r] = await run('frs-quota', 'Free calls left per operation');
      const left = byLabel(r, 'operation').face_detect;
      expect(left).toBeGreaterThanOrEqual(0);
      expect(left).toBeLessThan(values(await prom!.query('max(frs_free_calls_total{operation="face_detect"})'))[0]);
    });
  });
});
