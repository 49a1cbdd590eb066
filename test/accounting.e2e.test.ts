// Accounting end to end over real HTTP against an independent oracle: the emulator bills what it
// served under rules this test writes out (bss-rules.ts: no frs-meter catalogue flags or drawdown
// code), frs-meter meters and reconciles, and the expected numbers are literals worked out by
// hand in the comments. Findings 1, 2, 3 and 12 of issue 10.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { request } from 'undici';
import { ManualClock } from '../src/common/clock';
import { pathFor } from '../src/frs/operations';
import { sha256Hex, signRequest } from '../src/frs/signer';
import { BssPlugin, bssPlugin } from '../src/emulator/bss/bss-plugin';
import type { ReconciliationReport } from '../src/billing/reconciliation';
import { Stack, TEST_AK, TEST_SK, startStack } from './support/stack';
import { scrape, sum } from './support/metrics';

/** FRS's own per-second limit is not under test here. */
const HIGH_QPS = { face_detect: 100_000, face_compare: 100_000 };
const IMAGE = Buffer.alloc(256, 5).toString('base64');
const BODY = JSON.stringify({ image_base64: IMAGE });
const COMPARE_BODY = JSON.stringify({ image1_base64: IMAGE, image2_base64: IMAGE });
/** The bill's price, written out for both sides: 0.05 CNY a face_detect / face_compare call, no tiers. */
const PRICES = { currency: 'CNY', operations: { '*': [{ upTo: null, unitPrice: '0.05' }] } };

function priceFile(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'frs-meter-acct-'));
  const file = path.join(dir, 'prices.json');
  writeFileSync(file, JSON.stringify(PRICES));
  return file;
}

async function admin(stack: Stack, method: 'GET' | 'POST' | 'PUT', p: string, body?: unknown) {
  const res = await request(`${stack.meterUrl}${p}`, {
    method,
    headers: { authorization: `Bearer ${stack.adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.body.text();
  return { status: res.statusCode, json: JSON.parse(text) as Record<string, unknown>, text };
}

async function viaProxy(stack: Stack, apiKey: string, op: 'face_detect' | 'face_compare', n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const res = await request(`${stack.meterUrl}${pathFor(op, stack.projectId)}`, { method: 'POST', headers: { 'x-auth-token': apiKey, 'content-type': 'application/json' }, body: op === 'face_compare' ? COMPARE_BODY : BODY });
    await res.body.text();
    out.push(res.statusCode);
  }
  return out;
}

async function bypass(stack: Stack, clock: ManualClock, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const p = pathFor('face_detect', stack.projectId);
    const headers: Record<string, string> = { host: new URL(stack.emulatorUrl).host, 'content-type': 'application/json' };
    Object.assign(headers, signRequest({ method: 'POST', path: p, headers, bodySha256Hex: sha256Hex(BODY) }, { ak: TEST_AK, sk: TEST_SK }, clock.date()));
    const res = await request(`${stack.emulatorUrl}${p}`, { method: 'POST', headers, body: BODY });
    await res.body.text();
    expect(res.statusCode).toBe(200);
  }
}

describe('finding 1: bypassing calls are not charged to the apps that used the proxy', () => {
  const clock = new ManualClock('2025-07-10T12:00:00+08:00');
  let stack: Stack;
  let bss: BssPlugin;

  beforeAll(async () => {
    // The bill's rules: no free calls, every 2xx of face_detect billed at 0.05.
    bss = bssPlugin({ prices: PRICES, freeCalls: 0, freeScope: 'per_account', freeExcluded: [], billable: ['face_detect', 'face_compare'], billedStatuses: [200], packages: [] });
    stack = await startStack({ clock, emulator: { plugins: [bss], qps: HIGH_QPS }, env: { FRS_METER_PRICE_TABLE_FILE: priceFile(), FRS_METER_FREE_TIER_CALLS: '0' } });
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it("gives app A its own 10 calls' amount and the 90 bypass calls' amount to unattributed", async () => {
    expect(await viaProxy(stack, stack.apiKey, 'face_detect', 10)).toEqual(Array(10).fill(200));
    await bypass(stack, clock, 90);
    expect((await admin(stack, 'POST', '/admin/billing/sync', { month: '2025-07' })).status).toBe(200);
    const r = (await admin(stack, 'GET', '/admin/reconciliation/2025-07')).json as unknown as ReconciliationReport;
    // Bill: 100 calls × 0.05 = 5.00. App A: 10 × 0.05 = 0.50. Unattributed: 90 × 0.05 = 4.50, bypass.
    expect(r.bill_total).toBe('5.00');
    expect(r.operations.find((o) => o.operation === 'face_detect')).toMatchObject({ metered_calls: 10, billed_calls: 100, difference_calls: -90, unexplained_calls: -90 });
    expect(r.apps.map((a) => [a.app, a.share_amount])).toEqual([['test-app', '0.50']]);
    expect(r.unattributed_amount).toBe('4.50');
    expect(r.unattributed).toEqual([expect.objectContaining({ cause: 'bypass', operation: 'face_detect', calls: 90, amount: '4.50' })]);
    // The same per-app cost in the usage report: 10 × 0.05 = 0.5.
    const usage = (await admin(stack, 'GET', '/admin/usage?month=2025-07&app=test-app')).json as { apps: { app: string; estimated_cost: string }[] };
    expect(usage.apps).toEqual([expect.objectContaining({ app: 'test-app', estimated_cost: '0.5' })]);
  });
});

describe('finding 2: free calls left agree with the attribution everywhere', () => {
  const clock = new ManualClock('2025-08-10T12:00:00+08:00');
  let stack: Stack;

  beforeAll(async () => {
    const bss = bssPlugin({ prices: PRICES, freeCalls: 2000, freeScope: 'per_operation', freeExcluded: [], billable: ['face_detect', 'face_compare'], packages: [] });
    stack = await startStack({ clock, emulator: { plugins: [bss], qps: HIGH_QPS }, env: { FRS_METER_PRICE_TABLE_FILE: priceFile(), FRS_METER_FREE_TIER_SCOPE: 'per_operation' } });
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('shows 2,000 free face_detect calls left when a QPS package covered every call, in /admin/usage and /metrics', async () => {
    const put = await admin(stack, 'PUT', '/admin/qps-packages/face_detect', { qps: 1000, starts_at: '2025-08-01T00:00:00+08:00', expires_at: '2025-09-01T00:00:00+08:00' });
    expect(put.status).toBe(200);
    // 12 face_detect calls under the package (well inside 1,000 a second) and 3 face_compare without one.
    expect(await viaProxy(stack, stack.apiKey, 'face_detect', 12)).toEqual(Array(12).fill(200));
    expect(await viaProxy(stack, stack.apiKey, 'face_compare', 3)).toEqual(Array(3).fill(200));
    const usage = (await admin(stack, 'GET', '/admin/usage?month=2025-08')).json as { operations: { operation: string; free_calls_left: number; free_calls_used: number; attribution: { qps_package: number; free_tier: number } }[] };
    const detect = usage.operations.find((o) => o.operation === 'face_detect');
    const compare = usage.operations.find((o) => o.operation === 'face_compare');
    // face_detect: 12 on the QPS package, 0 free used, 2,000 left. face_compare: 3 free, 1,997 left.
    expect(detect).toMatchObject({ free_calls_used: 0, free_calls_left: 2000, attribution: { qps_package: 12, free_tier: 0 } });
    expect(compare).toMatchObject({ free_calls_used: 3, free_calls_left: 1997, attribution: { qps_package: 0, free_tier: 3 } });
    const m = await scrape(stack.meterUrl);
    expect(sum(m, 'frs_free_calls_remaining', { operation: 'face_detect' })).toBe(2000);
    expect(sum(m, 'frs_free_calls_remaining', { operation: 'face_compare' })).toBe(1997);
  });

  it("finding 11: a deleted app's name is never given to a new app, so its usage is not merged into another's", async () => {
    const old = await stack.createApp('kiosk');
    expect(await viaProxy(stack, old.api_key, 'face_compare', 2)).toEqual([200, 200]);
    const del = await request(`${stack.meterUrl}/admin/apps/kiosk`, { method: 'DELETE', headers: { authorization: `Bearer ${stack.adminToken}` } });
    await del.body.text();
    expect(del.statusCode).toBe(204);
    const again = await request(`${stack.meterUrl}/admin/apps`, { method: 'POST', headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'kiosk' }) });
    const body = (await again.body.json()) as { error_code: string; error_msg: string };
    expect(again.statusCode).toBe(409);
    expect(body).toMatchObject({ error_code: 'METER.0409' });
    expect(body.error_msg).toMatch(/never reused/);
    // The deleted app keeps its own 2 calls.
    const usage = (await admin(stack, 'GET', '/admin/usage?month=2025-08&app=kiosk')).json as { apps: { app: string; billable_calls: number }[] };
    expect(usage.apps).toEqual([expect.objectContaining({ app: 'kiosk', billable_calls: 2 })]);
  });
});

describe('finding 3: calls cut at the timeout after they were sent are possibly billed', () => {
  const clock = new ManualClock('2025-09-10T12:00:00+08:00');
  let stack: Stack;
  let bss: BssPlugin;

  beforeAll(async () => {
    bss = bssPlugin({ prices: PRICES, freeCalls: 0, freeScope: 'per_account', freeExcluded: [], billable: ['face_detect', 'face_compare'], packages: [] });
    stack = await startStack({
      clock,
      emulator: { plugins: [bss], qps: HIGH_QPS },
      env: {
        FRS_METER_PRICE_TABLE_FILE: priceFile(),
        FRS_METER_FREE_TIER_CALLS: '0',
        // A 300 ms upstream timeout against 1.5 s stalls; no retry after a timeout, so each stalled
        // call is exactly one possibly-billed attempt (a retry would be a second billed call).
        FRS_METER_TIMEOUT_MIN_SECONDS: '0.3',
        FRS_METER_TIMEOUT_MAX_SECONDS: '0.3',
        FRS_METER_RETRY_AFTER_TIMEOUT: 'none',
      },
    });
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('counts as possibly billed exactly the attempts FRS completed after the proxy cut them, and the reconciliation explains them all', async () => {
    stack.emulator.setFaults({ stalls: { face_detect: { fraction: 0.02, seconds: 1.5 } } });
    const statuses = await viaProxy(stack, stack.apiKey, 'face_detect', 300);
    stack.emulator.setFaults({ stalls: {} });
    // Let the stalled answers finish on the emulator's side (it bills them).
    await new Promise((r) => setTimeout(r, 1_700));
    const cut = statuses.filter((s) => s === 504).length;
    expect(statuses.filter((s) => s === 200).length + cut).toBe(300);
    // The oracle: answers the emulator completed with 200 minus those the proxy passed on.
    const completed = stack.emulator.ledger().filter((e) => e.operation === 'face_detect' && e.status === 200).length;
    expect(completed).toBe(300);
    expect(cut).toBeGreaterThan(0);
    const usage = (await admin(stack, 'GET', '/admin/usage?month=2025-09')).json as { operations: { operation: string; possibly_billed: number; billable_calls: number }[] };
    expect(usage.operations.find((o) => o.operation === 'face_detect')).toMatchObject({ possibly_billed: completed - (300 - cut), billable_calls: 300 - cut });
    const m = await scrape(stack.meterUrl);
    expect(sum(m, 'frs_possibly_billed_calls_total', { operation: 'face_detect' })).toBe(cut);

    expect((await admin(stack, 'POST', '/admin/billing/sync', { month: '2025-09' })).status).toBe(200);
    const r = (await admin(stack, 'GET', '/admin/reconciliation/2025-09')).json as unknown as ReconciliationReport;
    const line = r.operations.find((o) => o.operation === 'face_detect');
    // Billed 300, metered 300 − cut: the difference is −cut, all of it possibly billed.
    expect(line).toMatchObject({ billed_calls: 300, metered_calls: 300 - cut, difference_calls: -cut, possibly_billed: cut, unexplained_calls: 0 });
    expect(line?.causes.map((c) => c.code)).toEqual(['possibly_billed']);
    // 300 × 0.05 = 15.00 billed: the app's own metered calls, (300 − cut) × 0.05, plus the
    // possibly-billed ones FRS billed, which no metered call of the app accounts for.
    expect(r.bill_total).toBe('15.00');
  }, 60_000);
});
