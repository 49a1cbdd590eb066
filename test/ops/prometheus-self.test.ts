// A real Prometheus scraping itself, with prometheus/alerts.yml loaded: the server helper starts
// and stops it, the alert rules load and evaluate, and every dashboard query, variable query and
// alert expression is valid PromQL for a real server (results are empty: no frs-meter here;
// live-prometheus.test.ts runs the same queries against real traffic).

import { alertRules, ALERTS_FILE, allQueries, recordingRules } from './queries';
import { livePrometheusPolicy, PrometheusServer, requireBinary, startPrometheus, waitFor } from './prometheus-server';

const policy = livePrometheusPolicy('prometheus-self');
const describeLive = policy.run ? describe : describe.skip;

interface RulesResponse {
  status: string;
  data: { groups: { name: string; rules: { name: string; type: string; health: string; lastError?: string }[] }[] };
}

describeLive('a real Prometheus scraping itself', () => {
  let prom: PrometheusServer;

  beforeAll(async () => {
    const bin = requireBinary(policy.bin);
    prom = await startPrometheus({
      bin,
      config: (self) => ({
        global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
        rule_files: [ALERTS_FILE],
        scrape_configs: [{ job_name: 'prometheus', static_configs: [{ targets: [self] }] }],
      }),
    });
  }, 30_000);

  afterAll(async () => {
    await prom?.stop();
  });

  test('starts on a free port and scrapes itself', async () => {
    expect(prom.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await waitFor('the self scrape', async () => (await prom.query('up{job="prometheus"} == 1')).result.length === 1, 15_000);
    const build = await prom.query('prometheus_build_info');
    expect(build.status).toBe('success');
    expect(build.result[0].metric.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  test('loads every alert and recording rule of alerts.yml and evaluates it without error', async () => {
    const names = [...alertRules().map((r) => r.alert), ...recordingRules().map((r) => r.record)].sort();
    await waitFor(
      'one evaluation of every rule',
      async () => {
        const res = await prom.api<RulesResponse>('/api/v1/rules');
        return res.data.groups.flatMap((g) => g.rules).every((r) => r.health !== 'unknown');
      },
      15_000,
    );
    const res = await prom.api<RulesResponse>('/api/v1/rules');
    const rules = res.data.groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.name).sort()).toEqual(names);
    for (const r of rules) expect({ rule: r.name, health: r.health, lastError: r.lastError ?? '' }).toEqual({ rule: r.name, health: 'ok', lastError: '' });
  });

  test('runs every dashboard, variable, annotation and alert query without error', async () => {
    for (const values of [{ operation: '.*', app: '.*' }, { operation: 'face_detect', app: 'demo' }]) {
      const queries = allQueries(values);
      expect(queries.length).toBeGreaterThan(60);
      for (const q of queries) {
        const res = await prom.query(q.expr);
        expect({ where: q.where, expr: q.expr, error: res.error ?? null }).toEqual({ where: q.where, expr: q.expr, error: null });
      }
    }
  });

  test('reports a broken query as an error (the check above can fail)', async () => {
    const res = await prom.query('sum by (operation) (rate(frs_requests_total[$__rate_interval]))');
    expect(res.status).toBe('error');
    expect(res.error).toMatch(/parse error/);
  });
});
