// QPS, packages and the usage report through real HTTP: the service and the bundled emulator on
// port 0, calls through the proxy, numbers read from /metrics, the admin API and the emulator's
// ledger.

import { request } from 'undici';
import { billingMonthOf } from '../src/common/billing-month';
import { pathFor } from '../src/frs/operations';
import { startStack, Stack } from './support/stack';
import { scrape, sum } from './support/metrics';

const IMAGE = Buffer.alloc(2048, 5).toString('base64');

async function faceDetect(stack: Stack, op: 'face_detect' | 'live_detect_face' = 'face_detect'): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await request(`${stack.meterUrl}${pathFor(op, stack.projectId)}`, {
    method: 'POST',
    headers: { 'x-auth-token': stack.apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({ image_base64: IMAGE }),
  });
  return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> };
}

async function admin(stack: Stack, method: 'GET' | 'PUT' | 'POST' | 'DELETE', path: string, body?: unknown) {
  const res = await request(`${stack.meterUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${stack.adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.body.text();
  const type = String(res.headers['content-type'] ?? '');
  return { status: res.statusCode, type, text, json: type.includes('json') ? JSON.parse(text) : undefined };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('QPS, packages and usage over HTTP', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack();
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('reports frs_qps_peak 8 and saturation 0.8 for bursts of 8 calls against quota 10', async () => {
    // Three bursts of 8 concurrent calls, 1.5 s apart: every sliding second holds at most one
    // burst (8), with half a second of scheduling jitter to spare on a loaded machine.
    const start = Date.now() + 100;
    const answers = await Promise.all(
      Array.from({ length: 24 }, async (_, i) => {
        await sleep(start + Math.floor(i / 8) * 1500 - Date.now());
        return (await faceDetect(stack)).status;
      }),
    );
    expect(answers).toEqual(Array(24).fill(200));
    const m = await scrape(stack.meterUrl);
    expect(sum(m, 'frs_qps_quota', { operation: 'face_detect' })).toBe(10);
    expect(sum(m, 'frs_qps_peak', { operation: 'face_detect' })).toBe(8);
    expect(sum(m, 'frs_qps_saturation_ratio', { operation: 'face_detect' })).toBe(0.8);
    expect(sum(m, 'frs_qps_quota', { operation: 'live_detect' })).toBe(1);
  });

  it('answers bad package input with 400 METER.0400 naming the problem, and writes nothing', async () => {
    const bad: Array<[string, string, unknown, RegExp]> = [
      ['PUT', '/admin/qps-packages/face_detekt', { qps: 20, expires_at: '2030-01-01T00:00:00Z' }, /unknown operation "face_detekt"/],
      ['PUT', '/admin/qps-packages/face_detect', { qps: 0, expires_at: '2030-01-01T00:00:00Z' }, /qps must be a whole number from 1/],
      ['PUT', '/admin/qps-packages/face_detect', { qps: -3, expires_at: '2030-01-01T00:00:00Z' }, /qps must be a whole number from 1/],
      ['PUT', '/admin/qps-packages/face_detect', { qps: 20, starts_at: '2030-01-01T00:00:00Z', expires_at: '2029-01-01T00:00:00Z' }, /expires_at must be after starts_at/],
      ['PUT', '/admin/qps-packages/face_detect', { qps: 20, expires_at: '31/12/2030' }, /expires_at must be an ISO 8601 time/],
      ['PUT', '/admin/qps-packages/face_detect', { qps: 20, expires_at: '2030-02-30T00:00:00Z' }, /expires_at must be an ISO 8601 time/],
      ['PUT', '/admin/qps-packages/face_detect', { qps: 20 }, /expires_at .*\(required\)/],
      ['POST', '/admin/call-packages', { id: 'x', operations: ['face_dtect'], total_calls: 10, expires_at: '2030-01-01T00:00:00Z' }, /unknown operation "face_dtect"/],
      ['POST', '/admin/call-packages', { id: 'x', operations: ['face_list'], total_calls: 10, expires_at: '2030-01-01T00:00:00Z' }, /face_list is not billable/],
      ['POST', '/admin/call-packages', { id: 'x', operations: ['face_detect'], total_calls: 10, used_calls: 11, expires_at: '2030-01-01T00:00:00Z' }, /used_calls \(11\) must not exceed total_calls \(10\)/],
      ['POST', '/admin/call-packages', { id: 'x', operations: [], total_calls: 0, starts_at: 'yesterday', expires_at: '2030-01-01T00:00:00Z' }, /operations must be a non-empty array.*total_calls must be.*starts_at must be an ISO 8601 time/],
      ['POST', '/admin/call-packages', [1, 2], /expected a JSON object body/],
    ];
    for (const [method, path, body, message] of bad) {
      const res = await admin(stack, method as 'PUT', path, body);
      expect({ path, body, status: res.status, code: res.json?.error_code }).toEqual({ path, body, status: 400, code: 'METER.0400' });
      expect(res.json.error_msg).toMatch(message);
    }
    const qps = await admin(stack, 'GET', '/admin/qps-packages');
    expect(qps.json.qps_packages.every((q: { package: unknown }) => q.package === null)).toBe(true);
    expect((await admin(stack, 'GET', '/admin/call-packages')).json).toEqual({ call_packages: [] });
  });

  it('registers a QPS package that replaces the previous one and shows on /metrics', async () => {
    const first = await admin(stack, 'PUT', '/admin/qps-packages/face_compare', { qps: 20, expires_at: '2099-01-01T00:00:00+08:00' });
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({ package: { operation: 'face_compare', qps: 20, status: 'active' }, replaced: null });
    const second = await admin(stack, 'PUT', '/admin/qps-packages/face_compare', { qps: 30, expires_at: '2099-06-01T00:00:00+08:00' });
    expect(second.json).toMatchObject({ package: { qps: 30 }, replaced: { qps: 20, expires_at: '2098-12-31T16:00:00.000Z' } });
    const m = await scrape(stack.meterUrl);
    expect(sum(m, 'frs_qps_quota', { operation: 'face_compare' })).toBe(30);
    expect(sum(m, 'frs_qps_package_expiry_timestamp_seconds', { operation: 'face_compare' })).toBe(Date.parse('2099-06-01T00:00:00+08:00') / 1000);
    const csv = await admin(stack, 'GET', '/admin/qps-packages?format=csv');
    expect(csv.type).toContain('text/csv');
    expect(csv.text).toContain('face_compare,10,30,0,0,30,');
    const ended = await admin(stack, 'DELETE', '/admin/qps-packages/face_compare');
    expect(ended.json).toMatchObject({ ended: { qps: 30 } });
    expect(sum(await scrape(stack.meterUrl), 'frs_qps_quota', { operation: 'face_compare' })).toBe(10);
  });

  it('registers a call package, draws it with proxied calls and refuses a duplicate id', async () => {
    // Usage is stored per minute and a package counts from the start of its first minute, so it
    // covers an operation not called before in this test.
    const created = await admin(stack, 'POST', '/admin/call-packages', { id: 'cp-e2e', operations: ['live_detect_face'], total_calls: 1000, used_calls: 100, expires_at: '2099-01-01T00:00:00Z' });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ id: 'cp-e2e', remaining_calls: 900, status: 'active' });
    for (let i = 0; i < 5; i++) expect((await faceDetect(stack, 'live_detect_face')).status).toBe(200);
    const list = await admin(stack, 'GET', '/admin/call-packages');
    expect(list.json.call_packages).toEqual([expect.objectContaining({ id: 'cp-e2e', drawn_calls: 5, remaining_calls: 895 })]);
    const m = await scrape(stack.meterUrl);
    expect(sum(m, 'frs_call_package_remaining_calls', { package: 'cp-e2e' })).toBe(895);
    expect(sum(m, 'frs_call_package_total_calls', { package: 'cp-e2e' })).toBe(1000);
    const dup = await admin(stack, 'POST', '/admin/call-packages', { id: 'cp-e2e', operations: ['face_compare'], total_calls: 5, expires_at: '2099-01-01T00:00:00Z' });
    expect(dup.status).toBe(400);
    expect(dup.json.error_msg).toMatch(/already exists/);
    expect((await admin(stack, 'GET', '/admin/call-packages')).json.call_packages).toHaveLength(1);
    const csv = await admin(stack, 'GET', '/admin/call-packages?format=csv');
    expect(csv.text.split('\r\n')[1]).toMatch(/^cp-e2e,live_detect_face,1000,100,/);
  });

  it('reports the month per operation and app in JSON and CSV (the current one by default); a bad month is 400', async () => {
    const month = billingMonthOf(Date.now(), 'Asia/Shanghai');
    const res = await admin(stack, 'GET', `/admin/usage?month=${month}`);
    expect(res.status).toBe(200);
    const op = (name: string) => res.json.operations.find((o: { operation: string }) => o.operation === name);
    // 24 face_detect (peak test) and 5 live_detect_face (package test), all 200 at the first attempt.
    expect(op('face_detect')).toMatchObject({ requests: 24, upstream_attempts: 24, successes: 24, billable_calls: 24, free_calls_used: 24, free_calls_left: 1976, errors: {} });
    expect(op('face_detect').attribution).toMatchObject({ call_package: 0, free_tier: 24, pay_per_use: 0, estimated_cost: null });
    expect(op('live_detect_face').attribution).toMatchObject({ call_package: 5, free_tier: 0 });
    expect(res.json.totals).toMatchObject({ requests: 29, upstream_attempts: 29, billable_calls: 29 });
    expect(res.json.apps).toEqual([expect.objectContaining({ app: 'test-app', billable_calls: 29 })]);
    const csv = await admin(stack, 'GET', `/admin/usage?month=${month}&format=csv`);
    expect(csv.type).toContain('text/csv');
    const [header, ...rows] = csv.text.trim().split('\r\n');
    expect(header).toBe('month,operation,requests,upstream_attempts,successes,billable_calls,free_calls_used,free_calls_left,qps_package,call_package,free_tier,pay_per_use,estimated_cost,currency,errors,upstream_errors');
    expect(rows).toContain(`${month},face_detect,24,24,24,24,24,1976,0,0,24,0,,,,`);
    const apps = await admin(stack, 'GET', `/admin/usage?month=${month}&format=csv&table=apps`);
    expect(apps.text).toContain(`${month},test-app,face_detect,24,24,24`);
    const current = await admin(stack, 'GET', '/admin/usage');
    expect({ status: current.status, month: current.json.month, billable: current.json.totals.billable_calls }).toEqual({ status: 200, month, billable: 29 });
    for (const q of ['month=2026-13', 'month=202611', 'month=']) {
      const bad = await admin(stack, 'GET', `/admin/usage?${q}`);
      expect({ q, status: bad.status, code: bad.json?.error_code }).toEqual({ q, status: 400, code: 'METER.0400' });
    }
    expect((await admin(stack, 'GET', `/admin/usage?month=${month}&format=xml`)).status).toBe(400);
  });
});

describe('QPS shaping over HTTP', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ env: { FRS_METER_QPS_SHAPING: 'on', FRS_METER_RETRY_MAX_ATTEMPTS: '1' } });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('turns a burst of 30 calls against quota 10 into no FRS.0033: 10 at once, 10 after waiting, 10 refused with METER.0429', async () => {
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 30 }, () => faceDetect(stack)));
    const throttledUpstream = stack.emulator.ledger().filter((e) => e.errorCode === 'FRS.0033');
    expect(throttledUpstream).toEqual([]);
    const ok = answers.filter((a) => a.status === 200).length;
    const refused = answers.filter((a) => a.status === 429 && a.json.error_code === 'METER.0429').length;
    expect([ok, refused]).toEqual([20, 10]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000); // the second ten waited for their window
    expect(stack.emulator.ledger().filter((e) => e.operation === 'face_detect')).toHaveLength(20);
    const m = await scrape(stack.meterUrl);
    expect(sum(m, 'frs_qps_shaped_total', { operation: 'face_detect', result: 'delayed' })).toBe(10);
    expect(sum(m, 'frs_qps_shaped_total', { operation: 'face_detect', result: 'rejected' })).toBe(10);
    expect(sum(m, 'frs_requests_total', { operation: 'face_detect', code: '429', error_code: 'METER.0429' })).toBe(10);
  });
});
