// Scoped admin access, the audit trail, admin query validation and formula-safe CSV, over real
// HTTP against a real Postgres and the bundled emulator (BSS included).

import { request } from 'undici';
import { parse } from 'csv-parse/sync';
import { ManualClock } from '../src/common/clock';
import { bssPlugin } from '../src/emulator/bss/bss-plugin';
import { startStack, Stack } from './support/stack';

const READONLY = 'finance-readonly-token-01';
const DASHBOARD = 'dashboard-readonly-token-02';
const MONTH = '2025-05';
// Package names a hostile or careless BSS entry could carry into finance's spreadsheet.
const HOSTILE = ['=HYPERLINK("http://evil.example/x","click")', '+1', '-1', '@x'];

let stack: Stack;
const clock = new ManualClock('2025-05-20T12:00:00+08:00');
const logged: string[] = [];

async function call(token: string | undefined, method: 'GET' | 'POST' | 'PUT' | 'DELETE', p: string, body?: unknown) {
  const res = await request(`${stack.meterUrl}${p}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.body.text();
  const type = String(res.headers['content-type'] ?? '');
  return { status: res.statusCode, type, text, json: type.includes('json') && text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
}

const csvRows = (text: string) => parse(text, { columns: true }) as Record<string, string>[];

beforeAll(async () => {
  bss = bssPlugin({
    freeCalls: 0,
    packages: HOSTILE.map((name, i) => ({
      orderInstanceId: `pkg-${i}`,
      freeResourceId: `pkg-${i}-item`,
      productName: name,
      operations: ['face_compare'],
      totalCalls: 10,
      price: '1.50',
      effectiveTime: '2025-05-02T00:00:00Z',
      expireTime: '2026-05-01T00:00:00Z',
    })),
  });
  stack = await startStack({
    clock,
    emulator: { plugins: [bss] },
    env: { FRS_METER_READONLY_TOKENS: `${READONLY}, ${DASHBOARD}`, FRS_METER_BSS_MAX_ATTEMPTS: '1' },
    logger: { log: (m: unknown) => logged.push(String(m)), error: () => undefined, warn: () => undefined },
  });
}, 60_000);
let bss: ReturnType<typeof bssPlugin>;

afterAll(async () => {
  await stack?.stop();
});

describe('scoped admin access', () => {
  it('lets a read-only token read every report and export, and refuses its changes with 403', async () => {
    for (const p of ['/admin/usage', `/admin/usage?month=${MONTH}&format=csv`, `/admin/reconciliation/${MONTH}`, `/admin/reconciliation/${MONTH}?format=csv&table=apps`, '/admin/audit', '/admin/audit?format=csv', '/admin/apps', '/admin/qps-packages', '/admin/call-packages', '/admin/timeouts']) {
      const r = await call(READONLY, 'GET', p);
      expect([p, r.status]).toEqual([p, 200]);
    }
    const create = await call(DASHBOARD, 'POST', '/admin/apps', { name: 'finance-app' });
    expect(create.status).toBe(403);
    expect(create.json).toMatchObject({ error_code: 'METER.0403' });
    expect(String(create.json?.error_msg)).toMatch(/read-only/);
    expect((await call(READONLY, 'DELETE', '/admin/apps/test-app')).status).toBe(403);
    expect((await call(READONLY, 'PUT', '/admin/qps-packages/face_detect', { qps: 20, expires_at: '2026-01-01T00:00:00Z' })).status).toBe(403);
    expect((await call(READONLY, 'POST', '/admin/billing/sync', { month: MONTH })).status).toBe(403);
    // Nothing changed: the app list is still the one app, no package, no audit entry.
    const apps = (await call(stack.adminToken, 'GET', '/admin/apps')).json as { apps: { name: string }[] };
    expect(apps.apps.map((a) => a.name)).toEqual(['test-app']);
    expect(((await call(READONLY, 'GET', '/admin/qps-packages')).json as { qps_packages: { package: unknown }[] }).qps_packages.every((q) => q.package === null)).toBe(true);
    // Wrong and missing tokens are 401, not 403.
    expect((await call('finance-readonly-token-0', 'GET', '/admin/usage')).status).toBe(401);
    expect((await call(undefined, 'GET', '/admin/usage')).status).toBe(401);
    expect((await call(`${READONLY}x`, 'POST', '/admin/apps', { name: 'x' })).status).toBe(401);
  });

  it('writes every admin change to /admin/audit with the token fingerprint, never a token or secret', async () => {
    const created = await call(stack.adminToken, 'POST', '/admin/apps', { name: 'audited-app' });
    expect(created.status).toBe(201);
    expect((await call(stack.adminToken, 'PUT', '/admin/qps-packages/face_detect', { qps: 20, expires_at: '2026-01-01T00:00:00Z' })).status).toBe(200);
    expect((await call(stack.adminToken, 'PUT', '/admin/qps-packages/face_detect', { qps: 30, expires_at: '2026-01-01T00:00:00Z' })).status).toBe(200);
    expect((await call(stack.adminToken, 'DELETE', '/admin/qps-packages/face_detect')).status).toBe(200);
    const pkg = await call(stack.adminToken, 'POST', '/admin/call-packages', { id: 'cp-1', operations: ['face_compare'], total_calls: 40, expires_at: '2026-01-01T00:00:00Z' });
    expect(pkg.status).toBe(201);
    expect((await call(stack.adminToken, 'POST', '/admin/billing/sync', { month: MONTH })).status).toBe(200);
    expect((await call(stack.adminToken, 'DELETE', '/admin/apps/audited-app')).status).toBe(204);
    // A refused change leaves no trace.
    expect((await call(stack.adminToken, 'POST', '/admin/apps', { name: 'bad name!' })).status).toBe(400);

    const audit = await call(READONLY, 'GET', '/admin/audit');
    expect(audit.status).toBe(200);
    const entries = (audit.json as { entries: Record<string, unknown>[] }).entries;
    // Newest first; the app created by startStack came first of all.
    expect(entries.map((e) => [e.action, e.target])).toEqual([
      ['app.delete', 'audited-app'],
      ['billing.sync', MONTH],
      ['call_package.create', 'cp-1'],
      ['qps_package.end', 'face_detect'],
      ['qps_package.put', 'face_detect'],
      ['qps_package.put', 'face_detect'],
      ['app.create', 'audited-app'],
      ['app.create', 'test-app'],
    ]);
    const fingerprints = new Set(entries.map((e) => e.actor));
    expect(fingerprints.size).toBe(1);
    const [fp] = [...fingerprints] as string[];
    expect(fp).toMatch(/^[0-9a-f]{16}$/);
    expect(entries.every((e) => e.scope === 'admin')).toBe(true);
    // The fingerprint is the one the start log names for the admin token.
    expect(logged.some((l) => l.includes(`admin token ${fp}`))).toBe(true);
    // Before and after as the admin API shows them.
    const puts = entries.filter((e) => e.action === 'qps_package.put');
    expect(puts[0]).toMatchObject({ before: expect.objectContaining({ qps: 20 }), after: expect.objectContaining({ qps: 30 }) });
    expect(puts[1]).toMatchObject({ before: null, after: expect.objectContaining({ qps: 20 }) });
    const appCreate = entries.find((e) => e.action === 'app.create' && e.target === 'audited-app');
    expect(appCreate?.after).toMatchObject({ name: 'audited-app', access_key: (created.json as Record<string, string>).access_key });
    expect(entries.find((e) => e.action === 'app.delete')?.before).toMatchObject({ name: 'audited-app' });
    expect(entries.every((e) => typeof e.at === 'string' && Date.parse(String(e.at)) === Date.parse(String(e.at)))).toBe(true);

    const csv = await call(DASHBOARD, 'GET', '/admin/audit?format=csv');
    expect(csv.type).toContain('text/csv');
    const rows = csvRows(csv.text);
    expect(rows.map((r) => r.action)).toEqual(entries.map((e) => e.action));
    expect(rows.every((r) => r.actor === fp)).toBe(true);
    expect(JSON.parse(rows[0].before)).toMatchObject({ name: 'audited-app' });

    const filtered = (await call(READONLY, 'GET', '/admin/audit?action=qps_package.put&limit=1')).json as { entries: unknown[] };
    expect(filtered.entries).toHaveLength(1);

    // No token and no secret anywhere in the trail.
    const secrets = [stack.adminToken, READONLY, DASHBOARD, String((created.json as Record<string, string>).api_key), String((created.json as Record<string, string>).secret_key), stack.apiKey, stack.app.secret_key];
    for (const s of secrets) {
      expect(audit.text).not.toContain(s);
      expect(csv.text).not.toContain(s);
    }
  });

  it('refuses repeated, unknown and mistyped query parameters on every admin route, naming them', async () => {
    const cases: Array<[string, 'GET' | 'POST' | 'DELETE', string, unknown?]> = [
      ['app', 'GET', '/admin/usage?app=a&app=b'],
      ['month', 'GET', '/admin/usage?month=2025-13'],
      ['colour', 'GET', '/admin/usage?colour=red'],
      ['table', 'GET', `/admin/reconciliation/${MONTH}?table=detail`],
      ['format', 'GET', `/admin/billing/${MONTH}?format=xml`],
      ['format', 'GET', '/admin/apps?format=csv&format=json'],
      ['limit', 'GET', '/admin/audit?limit=ten'],
      ['since', 'GET', '/admin/audit?since=yesterday'],
      ['x', 'GET', '/admin/timeouts?x=1'],
      ['x', 'GET', '/admin/qps-packages?x=1'],
      ['x', 'GET', '/admin/call-packages?x=1'],
      ['dry_run', 'POST', '/admin/apps?dry_run=1', { name: 'never-created' }],
      ['force', 'DELETE', '/admin/apps/test-app?force=1'],
    ];
    for (const [name, method, p, body] of cases) {
      const r = await call(stack.adminToken, method, p, body);
      expect([p, r.status, r.json?.error_code]).toEqual([p, 400, 'METER.0400']);
      expect(String(r.json?.error_msg)).toContain(`"${name}"`);
    }
    const apps = (await call(stack.adminToken, 'GET', '/admin/apps')).json as { apps: { name: string }[] };
    expect(apps.apps.map((a) => a.name)).toEqual(['test-app']);
    // A valid query still answers.
    expect((await call(stack.adminToken, 'GET', `/admin/usage?month=${MONTH}&app=test-app&format=csv&table=apps`)).status).toBe(200);
  });

  it('neutralises formula cells from BSS billing data in every CSV export, and keeps numbers numbers', async () => {
    // The sync of the previous test stored the bill and the packages named HOSTILE.
    const packages = csvRows((await call(READONLY, 'GET', `/admin/billing/${MONTH}?format=csv&table=packages`)).text);
    expect(packages.map((p) => p.product_name).sort()).toEqual(["'+1", "'-1", '\'=HYPERLINK("http://evil.example/x","click")', "'@x"]);
    // Numbers stay numbers: 10 calls bought per package, none used.
    expect(packages.map((p) => p.bss_original)).toEqual(['10', '10', '10', '10']);
    const records = csvRows((await call(READONLY, 'GET', `/admin/billing/${MONTH}?format=csv&table=detail`)).text);
    const named = records.filter((r) => r.resource_name.startsWith("'"));
    expect(named.map((r) => r.resource_name.slice(1)).sort()).toEqual([...HOSTILE].sort());
    for (const table of ['records', 'detail', 'summary', 'packages']) {
      const text = (await call(READONLY, 'GET', `/admin/billing/${MONTH}?format=csv&table=${table}`)).text;
      for (const row of csvRows(text)) {
        for (const [col, cell] of Object.entries(row)) {
          // A cell that starts a formula must be a plain number (amounts may be negative).
          if (/^[=+\-@\t\r]/.test(cell)) expect([table, col, cell]).toEqual([table, col, expect.stringMatching(/^-\d+(\.\d+)?$/)]);
        }
      }
    }
  });
});
