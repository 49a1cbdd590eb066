// Billing end to end over real HTTP, with an injected clock: traffic from two apps through the
// proxy in May 2025, a sync through the admin API, and a reconciliation with zero difference;
// then calls sent straight to the emulator, bypassing the proxy, show up as exactly that many
// calls of difference, explained as bypass. Also the CSV exports, the billing gauges and the
// admin API's answers to bad input.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { request } from 'undici';
import { ManualClock } from '../src/common/clock';
import { pathFor } from '../src/frs/operations';
import { sha256Hex, signRequest } from '../src/frs/signer';
import { BssPlugin, bssPlugin } from '../src/emulator/bss/bss-plugin';
import { DEFAULT_EMULATOR_PRICES } from '../src/emulator/bss/bss-billing';
import type { ReconciliationReport } from '../src/billing/reconciliation';
import { formatReconciliation } from '../src/billing/reconciliation-format';
import { Stack, StackApp, TEST_AK, TEST_SK, startStack } from './support/stack';
import { scrape, sum } from './support/metrics';

const IMAGE = Buffer.alloc(1024, 3).toString('base64');
const MONTH = '2025-05';
type Op = 'face_detect' | 'face_compare';
const BODY: Record<Op, string> = {
  face_detect: JSON.stringify({ image_base64: IMAGE }),
  face_compare: JSON.stringify({ image1_base64: IMAGE, image2_base64: IMAGE }),
};

let stack: Stack;
let bss: BssPlugin;
let appB: StackApp;
const clock = new ManualClock('2025-05-10T12:00:00+08:00');

async function viaProxy(apiKey: string, op: Op, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await request(`${stack.meterUrl}${pathFor(op, stack.projectId)}`, {
      method: 'POST',
      headers: { 'x-auth-token': apiKey, 'content-type': 'application/json' },
      body: BODY[op],
    });
    await res.body.text();
    expect(res.statusCode).toBe(200);
  }
}

/** A call with the upstream credentials straight to the emulator: frs-meter never sees it. */
async function bypass(op: Op, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const p = pathFor(op, stack.projectId);
    const headers: Record<string, string> = { host: new URL(stack.emulatorUrl).host, 'content-type': 'application/json' };
    Object.assign(headers, signRequest({ method: 'POST', path: p, headers, bodySha256Hex: sha256Hex(BODY[op]) }, { ak: TEST_AK, sk: TEST_SK }, clock.date()));
    const res = await request(`${stack.emulatorUrl}${p}`, { method: 'POST', headers, body: BODY[op] });
    await res.body.text();
    expect(res.statusCode).toBe(200);
  }
}

async function admin(method: 'GET' | 'POST', p: string, body?: unknown) {
  const res = await request(`${stack.meterUrl}${p}`, {
    method,
    headers: { authorization: `Bearer ${stack.adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.body.text();
  const type = String(res.headers['content-type'] ?? '');
  return { status: res.statusCode, type, text, json: type.includes('json') ? (JSON.parse(text) as Record<string, unknown>) : undefined };
}

function csvRows(text: string): Record<string, string>[] {
  const [head, ...lines] = text.trim().split('\r\n');
  const cols = head.split(',');
  return lines.map((l) => {
    const cells: string[] = [];
    let cur = '';
    let quoted = false;
    for (let i = 0; i < l.length; i++) {
      const ch = l[i];
      if (quoted) {
        if (ch === '"' && l[i + 1] === '"') {
          cur += '"';
          i++;
        } else if (ch === '"') quoted = false;
        else cur += ch;
      } else if (ch === '"') quoted = true;
      else if (ch === ',') {
        cells.push(cur);
        cur = '';
      } else cur += ch;
    }
    cells.push(cur);
    return Object.fromEntries(cols.map((c, i) => [c, cells[i]]));
  });
}

beforeAll(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'frs-meter-prices-'));
  const prices = path.join(dir, 'prices.json');
  writeFileSync(prices, JSON.stringify({ ...DEFAULT_EMULATOR_PRICES, example: false }));
  // One free call per operation on both sides, so small traffic already costs something.
  bss = bssPlugin({
    freeCalls: 1,
    packages: [
      {
        orderInstanceId: 'pkg-compare-1',
        freeResourceId: 'pkg-compare-1-item',
        productName: 'FRS compare 100 calls',
        operations: ['face_compare'],
        totalCalls: 100,
        effectiveTime: '2025-05-01T00:00:00Z',
        expireTime: '2026-05-01T00:00:00Z',
      },
    ],
  });
  stack = await startStack({
    clock,
    emulator: { plugins: [bss] },
    env: { FRS_METER_PRICE_TABLE_FILE: prices, FRS_METER_FREE_TIER_CALLS: '1', FRS_METER_BSS_BACKOFF_BASE_MS: '5', FRS_METER_BSS_BACKOFF_MAX_MS: '20', FRS_METER_BSS_MAX_ATTEMPTS: '2' },
  });
  appB = await stack.createApp('app-b');
  // The same package registered in frs-meter under the BSS package id.
  const registered = await admin('POST', '/admin/call-packages', { id: 'pkg-compare-1', operations: ['face_compare'], total_calls: 100, used_calls: 0, expires_at: '2026-05-01T00:00:00Z' });
  if (registered.status !== 201) throw new Error(`registering the call package failed: ${registered.text}`);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

describe('billing end to end', () => {
  it('reconciles proxied traffic with zero difference, then shows bypassing calls as exactly that difference', async () => {
    await viaProxy(stack.apiKey, 'face_detect', 3);
    await viaProxy(appB.api_key, 'face_detect', 2);
    await viaProxy(stack.apiKey, 'face_compare', 1);
    await viaProxy(appB.api_key, 'face_compare', 2);

    const synced = await admin('POST', '/admin/billing/sync', { month: MONTH });
    expect(synced.status).toBe(200);
    expect(synced.json?.month).toMatchObject({ bill_cycle: MONTH, status: 'provisional', changed: true, currency: 'CNY', consume_amount: '0.02', aggregated_records: 2 });
    expect(synced.json?.packages).toMatchObject({ packages: 1, items: 1, changed: true });

    const rec = await admin('GET', `/admin/reconciliation/${MONTH}`);
    expect(rec.status).toBe(200);
    const report = rec.json as unknown as ReconciliationReport;
    expect(report).toMatchObject({ bill_cycle: MONTH, status: 'provisional', currency: 'CNY', bill_total: '0.02', records_total: '0.02' });
    const detect = report.operations.find((o) => o.operation === 'face_detect');
    const compare = report.operations.find((o) => o.operation === 'face_compare');
    // face_detect: 1 free + 4 paid × 0.0045 = 0.018 → 0.02; face_compare: all 3 from the package.
    expect(detect).toMatchObject({ metered_calls: 5, free_tier: 1, pay_per_use: 4, billed_calls: 5, difference_calls: 0, billed_amount: '0.02', estimated_cost: '0.018' });
    expect(compare).toMatchObject({ metered_calls: 3, call_package: 3, billed_calls: 3, billed_package_calls: 3, difference_calls: 0, billed_amount: '0.00', estimated_cost: '0.00' });
    expect(report.operations.every((o) => o.difference_calls === 0)).toBe(true);
    expect(report.operations.flatMap((o) => o.causes.map((c) => c.code)).every((c) => c === 'match')).toBe(true);
    expect(report.totals).toMatchObject({ metered_calls: 8, billed_calls: 8, difference_calls: 0 });
    // Shares of 0.02 (face_detect only): test-app 3/5 = 0.012, app-b 0.008 → 0.01 each, exactly the bill.
    expect(report.apps.map((a) => [a.app, a.billable_calls, a.share_amount])).toEqual([
      ['app-b', 4, '0.01'],
      ['test-app', 4, '0.01'],
    ]);
    expect(report.unattributed_amount).toBe('0.00');

    // BSS's remaining calls of the package next to frs-meter's.
    const bill = (await admin('GET', `/admin/billing/${MONTH}`)).json as { packages: { items: Record<string, unknown>[] } };
    expect(bill.packages.items).toEqual([
      expect.objectContaining({ order_instance_id: 'pkg-compare-1', free_resource_id: 'pkg-compare-1-item', bss_remaining: '97', bss_original: '100', call_package_id: 'pkg-compare-1', meter_remaining_calls: 97, remaining_difference: '0' }),
    ]);

    // Four calls straight to FRS with the same account: billed, never metered.
    await bypass('face_detect', 4);
    expect((await admin('POST', '/admin/billing/sync', { month: MONTH, packages: false })).status).toBe(200);
    const after = (await admin('GET', `/admin/reconciliation/${MONTH}`)).json as unknown as ReconciliationReport;
    const d = after.operations.find((o) => o.operation === 'face_detect');
    expect(d).toMatchObject({ metered_calls: 5, billed_calls: 9, difference_calls: -4 });
    expect(d?.causes).toEqual([expect.objectContaining({ code: 'bypass', calls: 4 })]);
    expect(d?.explanation).toMatch(/did not go through frs-meter/);
    expect(after.operations.find((o) => o.operation === 'face_compare')?.difference_calls).toBe(0);
    expect(after.totals.difference_calls).toBe(-4);
    // The bill is now 1 free + 8 paid = 0.036 → 0.04; the apps still share all of it.
    expect(after.bill_total).toBe('0.04');
    const shares = after.apps.reduce((s, a) => s + Math.round(Number(a.share_amount) * 100), 0) + Math.round(Number(after.unattributed_amount) * 100);
    expect(shares).toBe(4);

    const text = formatReconciliation(after);
    expect(text).toMatch(/face_detect\s+5\s+1\s+0\s+0\s+4\s+9\s+-4\s+0\.04/);

    // Exports.
    const csv = await admin('GET', `/admin/reconciliation/${MONTH}?format=csv`);
    expect(csv.type).toContain('text/csv');
    const rows = csvRows(csv.text);
    expect(rows.find((r) => r.operation === 'face_detect')).toMatchObject({ bill_cycle: MONTH, status: 'provisional', metered_calls: '5', billed_calls: '9', difference_calls: '-4', billed_amount: '0.04' });
    const apps = csvRows((await admin('GET', `/admin/reconciliation/${MONTH}?format=csv&table=apps`)).text);
    expect(apps.map((a) => a.app)).toEqual(['app-b', 'test-app']);

    // Gauges.
    const m = await scrape(stack.meterUrl);
    expect(sum(m, 'frs_reconciliation_difference_calls', { bill_cycle: MONTH, operation: 'face_detect' })).toBe(-4);
    expect(sum(m, 'frs_reconciliation_difference_calls', { bill_cycle: MONTH, operation: 'face_compare' })).toBe(0);
    expect(sum(m, 'frs_billing_month_final', { bill_cycle: MONTH })).toBe(0);
    expect(sum(m, 'frs_billing_amount', { bill_cycle: MONTH, charging_mode: 'pay_per_use' })).toBeCloseTo(0.04, 10);
    const synced2 = m.find((s) => s.name === 'frs_billing_last_sync_timestamp_seconds' && s.labels.kind === 'monthly_sum');
    expect(synced2?.value).toBeCloseTo(clock.now() / 1000, -1);
    expect(m.some((s) => s.name === 'frs_billing_last_sync_timestamp_seconds' && s.labels.kind === 'packages')).toBe(true);
  });

  it('shows the stored bill as JSON and CSV', async () => {
    const json = await admin('GET', `/admin/billing/${MONTH}`);
    expect(json.status).toBe(200);
    const body = json.json as { month: Record<string, unknown>; summary: unknown[]; records: Record<string, unknown>[]; packages: { items: unknown[] } };
    expect(body.month).toMatchObject({ bill_cycle: MONTH, status: 'provisional', currency: 'CNY', consume_amount: '0.04', aggregated_records: 2 });
    expect(body.records.map((r) => [r.operation, r.usage, r.free_resource_usage, r.amount])).toEqual([
      ['face_compare', '3', '3', '0.00'],
      ['face_detect', '9', '0', '0.04'],
    ]);
    expect(body.packages.items).toHaveLength(1);
    const detail = csvRows((await admin('GET', `/admin/billing/${MONTH}?format=csv&table=detail`)).text);
    expect(detail.reduce((s, r) => s + Number(r.usage), 0)).toBe(12);
    const summary = csvRows((await admin('GET', `/admin/billing/${MONTH}?format=csv&table=summary`)).text);
    expect(summary.map((r) => r.consume_amount).sort()).toEqual(['0.00', '0.04']);
    const packages = csvRows((await admin('GET', `/admin/billing/${MONTH}?format=csv&table=packages`)).text);
    expect(packages).toEqual([expect.objectContaining({ order_instance_id: 'pkg-compare-1', bss_remaining: '97', meter_remaining_calls: '97' })]);
  });

  it('answers bad input and BSS failures clearly, and changes nothing', async () => {
    const before = (await admin('GET', `/admin/billing/${MONTH}`)).json?.month as Record<string, unknown>;
    expect((await admin('POST', '/admin/billing/sync', { month: '2025-13' })).json).toMatchObject({ error_code: 'METER.0400' });
    expect((await admin('POST', '/admin/billing/sync', {})).status).toBe(400);
    const future = await admin('POST', '/admin/billing/sync', { month: '2025-06' });
    expect(future.status).toBe(400);
    expect(future.json?.error_msg).toMatch(/has not started/);
    expect((await admin('GET', '/admin/billing/2024-01')).json).toMatchObject({ error_code: 'METER.0404' });
    expect((await admin('GET', '/admin/billing/2024-1')).status).toBe(400);
    expect((await admin('GET', `/admin/reconciliation/${MONTH}?format=xml`)).status).toBe(400);

    bss.setFaults([{ kind: 'server_error', path: '/v2/bills/customer-bills/res-fee-records', page: 1, times: 0 }]);
    const failed = await admin('POST', '/admin/billing/sync', { month: MONTH });
    bss.setFaults([]);
    expect(failed.status).toBe(502);
    expect(failed.json).toMatchObject({ error_code: 'METER.0502' });
    expect(String(failed.json?.error_msg)).toMatch(/nothing stored.*CBC\.0999/);
    const after = (await admin('GET', `/admin/billing/${MONTH}`)).json?.month as Record<string, unknown>;
    expect(after).toEqual(before);

    const unauth = await request(`${stack.meterUrl}/admin/reconciliation/${MONTH}`);
    await unauth.body.text();
    expect(unauth.statusCode).toBe(401);
  });
});
