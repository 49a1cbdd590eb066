// OpenMetrics exposition with exemplars, negotiated per scrape, and the classic format unchanged.

import { loadConfig } from '../config/config';
import { ProxyMetrics } from '../proxy/proxy.metrics';
import { MetricsService, wantsOpenMetrics } from './metrics.service';

const PROMETHEUS_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

function service(): MetricsService {
  return new MetricsService(loadConfig({ FRS_ENDPOINT: 'http://127.0.0.1:1', HUAWEICLOUD_SDK_AK: 'a', HUAWEICLOUD_SDK_SK: 'b', FRS_METER_SECRET_KEY: '0123456789abcdef' }));
}

describe('metrics exposition', () => {
  test('Accept negotiation: Prometheus asks for OpenMetrics, curl does not', () => {
    expect(wantsOpenMetrics(PROMETHEUS_ACCEPT)).toBe(true);
    expect(wantsOpenMetrics('application/openmetrics-text; q=0, text/plain')).toBe(false);
    expect(wantsOpenMetrics('*/*')).toBe(false);
    expect(wantsOpenMetrics(undefined)).toBe(false);
  });

  test('the request-duration bucket carries the request id as exemplar in OpenMetrics only', async () => {
    const metrics = service();
    const m = new ProxyMetrics(metrics);
    m.request('app-a', 'face_detect', 200, 'none', 'success', 0.07, 0.06, 'req-0001');
    m.request('app-a', 'face_detect', 200, 'none', 'success', 0.07, 0.06, 'x'.repeat(101));

    const om = await metrics.scrape(PROMETHEUS_ACCEPT);
    expect(om.contentType).toMatch(/^application\/openmetrics-text; version=1\.0\.0/);
    expect(om.body.endsWith('# EOF\n')).toBe(true);
    const exemplars = om.body.split('\n').filter((l) => l.startsWith('frs_request_duration_seconds_bucket') && l.includes(' # {'));
    // Both calls fell in the same bucket; the second id is too long, so the first one stays.
    expect(exemplars).toHaveLength(1);
    expect(exemplars[0]).toMatch(/^frs_request_duration_seconds_bucket\{le="[0-9.]+",operation="face_detect",outcome="success"\} 2 # \{request_id="req-0001"\} 0\.07 \d+(\.\d+)?$/);
    expect(om.body).toContain('\nfrs_requests_total{app="app-a",operation="face_detect",code="200",error_code="none"} 2');

    // The classic format afterwards: counters keep their _total names, no exemplars.
    const text = await metrics.scrape('text/plain');
    expect(text.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(text.body).toContain('# TYPE frs_requests_total counter');
    expect(text.body).toContain('frs_requests_total{app="app-a",operation="face_detect",code="200",error_code="none"} 2');
    expect(text.body).not.toContain(' # {');
  });
});

describe("FRS's rate-limit headers", () => {
  test('exported per operation as they come; minute/hour/day become seconds; junk is skipped', async () => {
    const metrics = service();
    const m = new ProxyMetrics(metrics);
    m.rateLimit('face_detect', { 'x-ratelimit': '600', 'x-ratelimit-used': '42', 'x-ratelimit-window': 'minute' });
    m.rateLimit('face_compare', { 'x-ratelimit': '5000', 'x-ratelimit-used': 'lots', 'x-ratelimit-window': 'Hour' });
    m.rateLimit('face_search', {});
    const { body } = await metrics.scrape();
    const lines = body.split('\n').filter((l) => l.startsWith('frs_upstream_ratelimit'));
    expect(lines.sort()).toEqual([
      'frs_upstream_ratelimit_used{operation="face_detect"} 42',
      'frs_upstream_ratelimit_window_seconds{operation="face_compare"} 3600',
      'frs_upstream_ratelimit_window_seconds{operation="face_detect"} 60',
      'frs_upstream_ratelimit{operation="face_compare"} 5000',
      'frs_upstream_ratelimit{operation="face_detect"} 600',
    ]);
  });
});

describe('hot-path counters', () => {
  test('are handed to prom-client at each scrape, every increment exactly once', async () => {
    const metrics = service();
    const m = new ProxyMetrics(metrics);
    const line = (body: string, prefix: string) => body.split('\n').find((l) => l.startsWith(prefix));
    m.request('app-a', 'face_detect', 200, 'none', 'success', 0.05, 0.04);
    m.request('app-a', 'face_detect', 200, 'none', 'success', 0.05, 0.04);
    m.request('app-a', 'face_detect', 429, 'FRS.0033', 'throttled', 0.05, 0.04);
    m.attempt('face_detect', 'success', 0.04);
    m.billable('app-a', 'face_detect');
    let { body } = await metrics.scrape();
    // By hand: two 200s and one 429 of app-a, one attempt, one billable call.
    expect(line(body, 'frs_requests_total{app="app-a",operation="face_detect",code="200",error_code="none"}')).toMatch(/ 2$/);
    expect(line(body, 'frs_requests_total{app="app-a",operation="face_detect",code="429",error_code="FRS.0033"}')).toMatch(/ 1$/);
    expect(line(body, 'frs_upstream_attempts_total{operation="face_detect",outcome="success"}')).toMatch(/ 1$/);
    expect(line(body, 'frs_billable_calls_total{app="app-a",operation="face_detect"}')).toMatch(/ 1$/);
    // Three more 200s, then two scrapes in a row: 2 + 3 = 5, not 8.
    for (let i = 0; i < 3; i++) m.request('app-a', 'face_detect', 200, 'none', 'success', 0.05, 0.04);
    await metrics.scrape();
    ({ body } = await metrics.scrape());
    expect(line(body, 'frs_requests_total{app="app-a",operation="face_detect",code="200",error_code="none"}')).toMatch(/ 5$/);
    expect(line(body, 'frs_billable_calls_total{app="app-a",operation="face_detect"}')).toMatch(/ 1$/);
  });
});
