// The month-end forecast against a literal synthetic history, with an injected clock: it is
// 10 March 2026, 02:00 Beijing time (a Tuesday), and face_detect has had this shape since 10 Feb:
//   weekdays  10 calls an hour, 08:00–19:59 (120 a day)
//   weekends   5 calls an hour, 10:00–13:59 (20 a day)
// scaled by whole 7-day blocks: Feb 10–16 × 1.2, Feb 17–23 × 0.8, Feb 24–Mar 2 × 1.2, Mar 3–9 × 0.8.
// The usage is written into usage_counts as the proxy's flush would; the forecast is read over HTTP.
//
// Worked by hand (the oracle):
// - Profile: each weekday-hour slot has two blocks at 1.2 and two at 0.8 → mean 10 (weekend 5).
//   Day ratios: 14 days at 1.2, 14 at 0.8 → p10 0.8, p50 1.0, p90 1.2 (linear, 28 values).
// - So far (Mar 1–9): Sun 1 (×1.2) 24, Mon 2 (×1.2) 144, Tue 3–Fri 6 (×0.8) 4 × 96 = 384,
//   Sat 7–Sun 8 (×0.8) 2 × 16 = 32, Mon 9 (×0.8) 96 → 680.
// - Rest (Mar 10–31): 16 weekdays, 6 weekend days. p50: 16 × 120 + 6 × 20 = 2040 → 2720;
//   p10: 16 × 96 + 6 × 16 = 1632 → 2312; p90: 16 × 144 + 6 × 24 = 2448 → 3128.
// - The true rest of the month (what then happened): weekdays × 1.1 (11 an hour → 132 a day),
//   weekends × 1.2 (24 a day): 16 × 132 + 6 × 24 = 2256 → 2936, inside [2312, 3128].
// - Drawdown (order qps_package, call_package, free_tier, pay_per_use), 1500 free calls, and a
//   500-call package registered now. p50 path: the package takes Tue 10–Fri 13 (4 × 120 = 480),
//   then Sat 14 10:00–13:59 5 an hour: the last 5 go in the 13:00 hour → runs out 14:00 on Mar 14
//   (06:00Z). Free calls left 1500 − 680 = 820: Sun 15 (20), Mon 16–Fri 20 (600), Sat 21–Sun 22
//   (40), Mon 23 (120) → 40 left; Tue 24 08:00–11:59 at 10 an hour → out at 12:00 on Mar 24 (04:00Z).
// - p50 amount: paid calls 2720 − 500 − 1500 = 720 × 0.01 = 7.20 CNY.
// - High path (× 1.2, the early dates, p10): the package takes Tue 10–Thu 12 (3 × 144 = 432), then
//   Fri 13 from 08:00 at 12 an hour: 60 by 13:00, the last 8 of it in the 13:00 hour → 13:40 (05:40Z).
//   Free 820: the 13:00 hour's other 4 and 14:00–19:59 (72) → 744; Sat 14, Sun 15 (48) → 696;
//   Mon 16–Thu 19 (576) → 120; Fri 20 from 08:00 at 12 an hour → out at 18:00 (10:00Z).
// - Low path (× 0.8, the late dates, p90): the package takes Tue 10–Fri 13 (384), Sat 14, Sun 15
//   (32) → 84 left; Mon 16 at 8 an hour → out at 18:30 (10:30Z). Free 820: Mon 16 18:30–19:59 (12),
//   Tue 17–Fri 20 (384), Sat 21, Sun 22 (32) → 392; Mon 23–Thu 26 (384) → 8; Fri 27 08:00 hour →
//   out at 09:00 (01:00Z).
// - Amounts: low path 2312 − 2000 = 312 paid → 3.12; high path 3128 − 2000 = 1128 → 11.28.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { request } from 'undici';
import { ManualClock } from '../src/common/clock';
import type { MonthForecast } from '../src/insights/forecast.service';
import { Stack, startStack } from './support/stack';
import { scrape, sum } from './support/metrics';

const HOUR = 3600_000;
const DAY = 86_400_000;
const clock = new ManualClock('2026-03-10T00:00:00+08:00');
let stack: Stack;

/** Hourly calls of the synthetic shape on the local day starting at `day` (Beijing midnight). */
function dayShape(day: number, factor: number): { hour: number; n: number }[] {
  const weekday = new Date(day + 8 * HOUR).getUTCDay(); // 0 Sunday … 6 Saturday, in Beijing
  const weekend = weekday === 0 || weekday === 6;
  const out: { hour: number; n: number }[] = [];
  for (let h = 0; h < 24; h++) {
    const base = weekend ? (h >= 10 && h < 14 ? 5 : 0) : h >= 8 && h < 20 ? 10 : 0;
    if (base > 0) out.push({ hour: day + h * HOUR, n: Math.round(base * factor) });
  }
  return out;
}

async function insertHistory(): Promise<void> {
  const first = Date.parse('2026-02-10T00:00:00+08:00');
  const db = new Client({ connectionString: stack.databaseUrl });
  await db.connect();
  try {
    for (let d = 0; d < 28; d++) {
      const day = first + d * DAY;
      const factor = Math.floor(d / 7) % 2 === 0 ? 1.2 : 0.8;
      for (const { hour, n } of dayShape(day, factor)) {
        const month = new Date(hour + 8 * HOUR).toISOString().slice(0, 7);
        await db.query(
          `INSERT INTO usage_counts (minute, billing_month, app, operation, kind, code, error_code, outcome, count, billable)
           VALUES ($1, $2, 'test-app', 'face_detect', 'attempt', 200, 'none', 'success', $3, $3)`,
          [new Date(hour), month, n],
        );
      }
    }
  } finally {
    await db.end();
  }
}

async function admin(method: 'GET' | 'POST', p: string, body?: unknown): Promise<{ status: number; text: string }> {
  const res = await request(`${stack.meterUrl}${p}`, {
    method,
    headers: { authorization: `Bearer ${stack.adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  return { status: res.statusCode, text: await res.body.text() };
}

beforeAll(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'frs-meter-forecast-'));
  const prices = path.join(dir, 'prices.json');
  writeFileSync(prices, JSON.stringify({ currency: 'CNY', tierBasis: 'pay_per_use', operations: { '*': [{ upTo: null, unitPrice: '0.01' }] } }));
  const offers = path.join(dir, 'offers.json');
  writeFileSync(offers, JSON.stringify({ currency: 'CNY', qps_packages: [{ qps: 10, price: '5.00' }], call_packages: [{ calls: 1000, price: '4.00' }] }));
  stack = await startStack({
    clock,
    env: { FRS_METER_PRICE_TABLE_FILE: prices, FRS_METER_FREE_TIER_CALLS: '1500', FRS_METER_FREE_TIER_SCOPE: 'per_operation', FRS_METER_BILLING_SYNC: 'off', FRS_METER_PACKAGE_OFFERS_FILE: offers },
  });
  await insertHistory();
  // Two hours on (nothing happens on a Tuesday before 08:00, so the sums above stand): the
  // drawdown runner caches settled chunks for an hour, and these rows were written behind its back.
  clock.set(Date.parse('2026-03-10T02:00:00+08:00'));
  const pkg = await admin('POST', '/admin/call-packages', { id: 'detect-500', operations: ['face_detect'], total_calls: 500, used_calls: 0, expires_at: '2026-06-01T00:00:00Z' });
  if (pkg.status !== 201) throw new Error(`registering the call package failed: ${pkg.text}`);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

describe('month-end forecast', () => {
  it('on day 10 brackets the true total and dates the run-outs as worked out by hand', async () => {
    const res = await admin('GET', '/admin/forecast?month=2026-03');
    expect(res.status).toBe(200);
    const f = JSON.parse(res.text) as MonthForecast;
    const detect = f.operations.find((o) => o.operation === 'face_detect')!;
    expect(detect.calls_so_far).toBe(680);
    expect(detect.calls).toEqual({ p10: 2312, p50: 2720, p90: 3128 });
    const truth = 2936;
    expect(detect.calls.p10).toBeLessThanOrEqual(truth);
    expect(detect.calls.p90).toBeGreaterThanOrEqual(truth);
    expect(f.model.residuals.face_detect).toEqual({ days: 28, ratios: { p10: 0.8, p50: 1, p90: 1.2 } });

    expect(f.packages).toEqual([expect.objectContaining({ id: 'detect-500', remaining_now: 500 })]);
    const pkg = f.packages[0];
    // More traffic runs out earlier: p10 is the early date.
    expect(pkg.runs_out).toEqual({ p10: '2026-03-13T05:40:00.000Z', p50: '2026-03-14T06:00:00.000Z', p90: '2026-03-16T10:30:00.000Z' });
    expect(detect.free_tier_burnout).toEqual({ p10: '2026-03-20T10:00:00.000Z', p50: '2026-03-24T04:00:00.000Z', p90: '2026-03-27T01:00:00.000Z' });
    expect(pkg.remaining_at_month_end).toEqual({ p10: 0, p50: 0, p90: 0 });
    expect(detect.amount).toEqual({ p10: '3.12', p50: '7.20', p90: '11.28' });
    expect(f.amount).toEqual({ p10: '3.12', p50: '7.20', p90: '11.28' });
    expect(f.apps).toEqual([{ app: 'test-app', calls: { p10: 2312, p50: 2720, p90: 3128 }, amount: { p10: '3.12', p50: '7.20', p90: '11.28' } }]);
    expect(f.currency).toBe('CNY');

    const csv = await admin('GET', '/admin/forecast?month=2026-03&format=csv');
    expect(csv.text.split('\r\n')[0]).toBe('month,at,currency,operation,calls_so_far,calls_p10,calls_p50,calls_p90,free_tier_burnout_p10,free_tier_burnout_p50,free_tier_burnout_p90,amount_p10,amount_p50,amount_p90');
    expect(csv.text).toContain(',face_detect,680,2312,2720,3128,');

    // The gauges are refreshed in the background of a scrape.
    await scrape(stack.meterUrl);
    let m = await scrape(stack.meterUrl);
    for (let i = 0; i < 50 && sum(m, 'frs_forecast_month_calls', { operation: 'face_detect', quantile: '0.5' }) === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      m = await scrape(stack.meterUrl);
    }
    expect(sum(m, 'frs_forecast_month_calls', { operation: 'face_detect', quantile: '0.5' })).toBe(2720);
    expect(sum(m, 'frs_forecast_month_amount', { quantile: '0.5' })).toBeCloseTo(7.2, 10);
  });

  it('advises on packages from the month so far and the stored per-second peaks', async () => {
    // Peaks written as the harvester would: 100 s at 5 calls, 40 s at 12 → 980 calls seen.
    const db = new Client({ connectionString: stack.databaseUrl });
    await db.connect();
    await db.query(`INSERT INTO qps_second_peaks (minute, operation, calls, seconds) VALUES ('2026-03-09T02:00:00Z', 'face_detect', 5, 100), ('2026-03-09T02:00:00Z', 'face_detect', 12, 40)`);
    await db.end();
    const res = await admin('GET', '/admin/advice?month=2026-03');
    expect(res.status).toBe(200);
    const a = JSON.parse(res.text) as { operations: Record<string, unknown>[]; notes: string[] };
    // By hand: 680 valid calls so far, 1,500 free → nothing to pay (0.00). QPS 10 for 5.00 covers
    // 5×100 + 10×40 = 900 of 980 (0.9184), overflow 680 × 80 / 980 = 55.5 → 56 calls, all free:
    // 5.00, a loss of 5.00. 1,000 calls for 4.00: a loss of 4.00, break-even 400 paid calls.
    expect(a.operations).toEqual([
      {
        operation: 'face_detect', month_calls: 680, free_calls: 1500, peak_qps: 12, seconds_with_calls: 140, pay_per_use_cost: '0.00',
        qps_packages: [{ qps: 10, price: '5.00', covered_share: '0.9184', overflow_calls: 56, overflow_cost: '0.00', total_cost: '5.00', saving: '-5.00' }],
        recommended_qps_package: null,
        call_packages: [{ calls: 1000, price: '4.00', total_cost: '4.00', saving: '-4.00', break_even_paid_calls: 400 }],
        recommended_call_package: null,
      },
    ]);
    expect(a.notes.join(' ')).toContain('QPS packages do not add up');
  });

  it('refuses a month that is not in progress, and a bad one', async () => {
    expect((await admin('GET', '/admin/forecast?month=2026-02')).status).toBe(400);
    expect((await admin('GET', '/admin/forecast?month=2026-3')).status).toBe(400);
  });
});
