// Daily provisional reconciliation end to end, over real HTTP with an injected clock: face_detect
// traffic through the proxy on three days of March 2026, a Cost Center pull after each day (the
// emulator serves POST /v4/costs/cost-analysed-bills/query from its ledger), and each day moving
// from `estimated` to `provisional` with zero unexplained difference; then the monthly bill is
// final and every day says `final`, with the bill's own per-day amounts.
//
// The emulator bills with the rule set written here, not with frs-meter's price table code: 10 free
// calls a month per operation, then 0.01 CNY per call. frs-meter is configured with the same facts.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { request } from 'undici';
import { ManualClock } from '../src/common/clock';
import { pathFor } from '../src/frs/operations';
import { bssPlugin } from '../src/emulator/bss/bss-plugin';
import type { ReconciliationWithDays } from '../src/billing/reconciliation.service';
import { Stack, startStack } from './support/stack';

const MONTH = '2026-03';
const BODY = JSON.stringify({ image_base64: Buffer.alloc(512, 7).toString('base64') });
const PRICES = { currency: 'CNY', tierBasis: 'pay_per_use', operations: { '*': [{ upTo: null, unitPrice: '0.01' }] } };
const clock = new ManualClock('2026-03-01T09:00:00+08:00');
let stack: Stack;

async function detect(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await request(`${stack.meterUrl}${pathFor('face_detect', stack.projectId)}`, {
      method: 'POST',
      headers: { 'x-auth-token': stack.apiKey, 'content-type': 'application/json' },
      body: BODY,
    });
    const text = await res.body.text();
    expect({ status: res.statusCode, body: res.statusCode === 200 ? '' : text }).toEqual({ status: 200, body: '' });
  }
}

async function admin(method: 'GET' | 'POST', p: string, body?: unknown): Promise<{ status: number; json: unknown; text: string }> {
  const res = await request(`${stack.meterUrl}${p}`, {
    method,
    headers: { authorization: `Bearer ${stack.adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.body.text();
  return { status: res.statusCode, text, json: String(res.headers['content-type'] ?? '').includes('json') ? JSON.parse(text) : undefined };
}

async function costCenterSync(): Promise<void> {
  const r = await admin('POST', '/admin/cost-center/sync', { month: MONTH });
  expect({ status: r.status, body: r.status === 200 ? '' : r.text }).toEqual({ status: 200, body: '' });
}

async function days(): Promise<ReconciliationWithDays['daily']['days']> {
  const r = await admin('GET', `/admin/reconciliation/${MONTH}`);
  expect(r.status).toBe(200);
  return (r.json as ReconciliationWithDays).daily.days;
}

beforeAll(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'frs-meter-cc-'));
  const prices = path.join(dir, 'prices.json');
  writeFileSync(prices, JSON.stringify(PRICES));
  stack = await startStack({
    clock,
    // The calls of the three days go out within a second of real time: FRS's 10 QPS would throttle them.
    emulator: { plugins: [bssPlugin({ prices: PRICES, freeCalls: 10, freeScope: 'per_operation', freeExcluded: [], packages: [] })], qps: { face_detect: 1000 } },
    env: {
      FRS_METER_PRICE_TABLE_FILE: prices,
      FRS_METER_FREE_TIER_CALLS: '10',
      FRS_METER_FREE_TIER_SCOPE: 'per_operation',
      FRS_METER_BILLING_SYNC: 'off',
      FRS_METER_BILLING_FINAL_HOUR: '12',
    },
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

describe('daily reconciliation through Cost Center', () => {
  it('moves each day from estimated to provisional with zero unexplained difference, then to final', async () => {
    // Day 1: 8 calls, all inside the 10 free calls → 0.
    await detect(8);
    expect(await days()).toEqual([{ day: '2026-03-01', status: 'estimated', estimated_cost: '0', huawei_amount: null, difference_amount: null, unexplained_amount: null }]);

    // 00:30 is too early: Cost Center lags about an hour (FRS_METER_COST_CENTER_LAG_MINUTES=60).
    clock.set(Date.parse('2026-03-02T00:30:00+08:00'));
    await costCenterSync();
    expect((await days())[0]).toMatchObject({ day: '2026-03-01', status: 'estimated' });
    clock.set(Date.parse('2026-03-02T01:30:00+08:00'));
    await costCenterSync();
    expect(await days()).toEqual([
      { day: '2026-03-01', status: 'provisional', estimated_cost: '0', huawei_amount: '0', difference_amount: '0', unexplained_amount: '0' },
      { day: '2026-03-02', status: 'estimated', estimated_cost: '0', huawei_amount: null, difference_amount: null, unexplained_amount: null },
    ]);

    // Day 2: 6 calls = the last 2 free calls + 4 paid × 0.01 = 0.04.
    clock.set(Date.parse('2026-03-02T10:00:00+08:00'));
    await detect(6);
    clock.set(Date.parse('2026-03-03T01:30:00+08:00'));
    await costCenterSync();
    // Pulling twice changes nothing: the pull replaces its days.
    await costCenterSync();
    // Day 3: 5 paid calls = 0.05.
    clock.set(Date.parse('2026-03-03T15:00:00+08:00'));
    await detect(5);
    clock.set(Date.parse('2026-03-04T01:30:00+08:00'));
    await costCenterSync();

    const provisional = await admin('GET', `/admin/reconciliation/${MONTH}`);
    const report = provisional.json as ReconciliationWithDays;
    expect(report.daily.days).toEqual([
      { day: '2026-03-01', status: 'provisional', estimated_cost: '0', huawei_amount: '0', difference_amount: '0', unexplained_amount: '0' },
      { day: '2026-03-02', status: 'provisional', estimated_cost: '0.04', huawei_amount: '0.04', difference_amount: '0', unexplained_amount: '0' },
      { day: '2026-03-03', status: 'provisional', estimated_cost: '0.05', huawei_amount: '0.05', difference_amount: '0', unexplained_amount: '0' },
      { day: '2026-03-04', status: 'estimated', estimated_cost: '0', huawei_amount: null, difference_amount: null, unexplained_amount: null },
    ]);
    expect(report.daily.rows.filter((r) => r.day === '2026-03-02')).toEqual([
      {
        day: '2026-03-02', operation: 'face_detect', status: 'provisional', metered_calls: 6, free_tier: 2, call_package: 0, pay_per_use: 4,
        estimated_cost: '0.04', cost_center_amount: '0.04', final_amount: null, difference_amount: '0', unexplained_amount: '0', explanation: 'match',
      },
    ]);
    // No bill pulled yet: the monthly rows are estimates, and say so.
    expect(report.status).toBe('not_synced');
    expect(report.operations.every((o) => o.status === 'estimated')).toBe(true);
    const csv = await admin('GET', `/admin/reconciliation/${MONTH}?format=csv&table=days`);
    expect(csv.text.split('\r\n')[0]).toBe('bill_cycle,day,operation,status,metered_calls,free_tier,call_package,pay_per_use,currency,estimated_cost,cost_center_amount,final_amount,difference_amount,unexplained_amount,explanation');
    expect(csv.text).toContain('\r\n2026-03,2026-03-03,face_detect,provisional,5,0,0,5,CNY,0.05,0.05,,0,0,match');

    // After 12:00 on 4 April (Beijing) March's bill is final; the monthly pull makes every day final.
    clock.set(Date.parse('2026-04-04T13:00:00+08:00'));
    const synced = await admin('POST', '/admin/billing/sync', { month: MONTH, packages: false });
    expect(synced.status).toBe(200);
    expect((synced.json as { month: { status: string; consume_amount: string } }).month).toMatchObject({ status: 'final', consume_amount: '0.09' });
    const final = (await admin('GET', `/admin/reconciliation/${MONTH}`)).json as ReconciliationWithDays;
    expect(final.daily.days).toHaveLength(31);
    expect(final.daily.days.every((d) => d.status === 'final' && d.unexplained_amount === '0')).toBe(true);
    expect(final.daily.days.slice(0, 3).map((d) => [d.day, d.estimated_cost, d.huawei_amount])).toEqual([
      ['2026-03-01', '0', '0'],
      ['2026-03-02', '0.04', '0.04'],
      ['2026-03-03', '0.05', '0.05'],
    ]);
    expect(final.daily.rows.find((r) => r.day === '2026-03-03')).toMatchObject({ status: 'final', cost_center_amount: '0.05', final_amount: '0.05', difference_amount: '0' });
    expect(final.operations.find((o) => o.operation === 'face_detect')).toMatchObject({ status: 'final', metered_calls: 19, billed_calls: 19, difference_calls: 0 });
  });

  it('refuses a bad month and changes nothing', async () => {
    const r = await admin('POST', '/admin/cost-center/sync', { month: '2026-13' });
    expect(r.status).toBe(400);
  });
});
