// Budgets with real parts: frs-meter replicas (in-process and one spawned process that is
// SIGKILLed) on one Postgres in front of the bundled emulator, whose ledger is the truth of what
// reached "FRS". Expected numbers are worked out by hand in the comments beside them.

import { spawn, ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { request } from 'undici';
import { billingMonthOf, monthRange } from '../src/common/billing-month';
import { BILLABLE_OPERATION_NAMES, pathFor } from '../src/frs/operations';
import { RunningService } from '../src/app';
import { startStack, Stack, serviceEnv } from './support/stack';
import { scrape, sum } from './support/metrics';

const ROOT = path.resolve(__dirname, '..');
const HIGH_QPS = Object.fromEntries(BILLABLE_OPERATION_NAMES.map((o) => [o, 100_000]));
const BODIES: Record<string, string> = {
  face_detect: JSON.stringify({ image_base64: 'aGVsbG8=' }),
  face_compare: JSON.stringify({ image1_base64: 'aGVsbG8=', image2_base64: 'aGVsbG8=' }),
};
// Short refresh and TTL so the test sees leases move and expire; a timeout floor of 5 s because a
// loaded 2-core CI machine can slow the emulator past a p99-derived timeout, and cut calls are
// not what these tests are about.
const FAST = { FRS_METER_BUDGET_REFRESH_MS: '250', FRS_METER_BUDGET_LEASE_TTL_MS: '3000', FRS_METER_RETRY_MAX_ATTEMPTS: '1', FRS_METER_TIMEOUT_MIN_SECONDS: '5' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function call(base: string, stack: Stack, apiKey: string, op: 'face_detect' | 'face_compare') {
  const res = await request(`${base}${pathFor(op, stack.projectId)}`, { method: 'POST', headers: { 'x-auth-token': apiKey, 'content-type': 'application/json' }, body: BODIES[op] });
  const json = (await res.body.json()) as { error_code?: string; error_msg?: string; budget?: Record<string, unknown> };
  return { status: res.statusCode, json };
}

async function admin(base: string, method: 'GET' | 'PUT' | 'DELETE', p: string, body?: unknown) {
  const res = await request(`${base}${p}`, {
    method,
    headers: { authorization: 'Bearer test-admin-token-0001', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.body.text();
  return { status: res.statusCode, json: text ? JSON.parse(text) : undefined };
}

function served(stack: Stack, op: string): number {
  return stack.emulator.ledger().filter((e) => e.operation === op && e.status === 200).length;
}

/**
 * `clients` concurrent clients, each calling the replicas in turn until it has been refused by the
 * budget on three calls in a row (every replica said no). A replica that cannot be reached any
 * more (killed) is dropped from the rotation.
 */
async function drain(stack: Stack, apiKey: string, op: 'face_detect' | 'face_compare', urls: string[], clients: number, onSuccess?: (total: number) => void) {
  let ok = 0;
  const refusals: Array<{ status: number; json: Record<string, unknown> }> = [];
  const other: Array<{ status: number; code?: string }> = [];
  const live = [...urls];
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      let i = c;
      let refusedInARow = 0;
      while (refusedInARow < 3 && live.length > 0) {
        const url = live[i++ % live.length];
        let r;
        try {
          r = await call(url, stack, apiKey, op);
        } catch {
          const k = live.indexOf(url);
          if (k >= 0) live.splice(k, 1);
          continue;
        }
        if (r.status === 200) {
          ok++;
          refusedInARow = 0;
          onSuccess?.(ok);
        } else if (r.status === 402) {
          refusals.push(r);
          refusedInARow++;
        } else other.push({ status: r.status, code: r.json.error_code });
      }
    }),
  );
  return { ok, refusals, other };
}

function startProcess(env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/main.ts'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ url: m[1], child });
    });
    child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) => reject(new Error(`service exited with ${code}: ${out}`)));
  });
}

describe('budgets across three replicas', () => {
  let stack: Stack;
  let r2: RunningService;
  let r3: RunningService;

  beforeAll(async () => {
    stack = await startStack({ env: FAST, emulator: { qps: HIGH_QPS } });
    r2 = await stack.startReplica();
    r3 = await stack.startReplica();
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('a cap of 1,000 calls: exactly 1,000 reach the emulator, every other call gets 402 METER.0402, 1,000 billable in /admin/usage', async () => {
    const put = await admin(stack.meterUrl, 'PUT', '/admin/apps/test-app/budget', { monthly_calls: 1000, operations: ['face_detect'], action: 'block' });
    expect(put.status).toBe(200);
    expect(put.json).toMatchObject({ monthly_calls: 1000, monthly_amount: null, operations: ['face_detect'], action: 'block', alert_thresholds: [0.5, 0.8, 0.95], used_calls: 0 });
    // The other replicas read budgets every 250 ms; a GET reads at once.
    for (const r of [r2, r3]) expect((await admin(r.url, 'GET', '/admin/apps/test-app/budget')).status).toBe(200);

    const result = await drain(stack, stack.apiKey, 'face_detect', [stack.meterUrl, r2.url, r3.url], 20);
    expect(result.other).toEqual([]);
    expect(result.ok).toBe(1000);
    expect(served(stack, 'face_detect')).toBe(1000);
    const month = billingMonthOf(Date.now(), 'Asia/Shanghai');
    const resets = new Date(monthRange(month, 'Asia/Shanghai').end).toISOString();
    expect(result.refusals.length).toBeGreaterThanOrEqual(60); // 20 clients × 3 refusals at least
    for (const r of result.refusals) {
      expect(r.json).toMatchObject({ error_code: 'METER.0402', budget: { monthly_calls: 1000, used_calls: 1000, resets_at: resets } });
      expect(r.json.error_msg).toMatch(/Monthly budget of app "test-app" reached: 1000 of 1000 calls used or held.*resets at/);
    }

    // Every replica flushes within a second; the report counts all of them.
    let billable = 0;
    for (let i = 0; i < 40 && billable !== 1000; i++) {
      await sleep(250);
      const usage = await admin(stack.meterUrl, 'GET', '/admin/usage');
      billable = usage.json.operations.find((o: { operation: string }) => o.operation === 'face_detect').billable_calls;
      if (billable === 1000) expect(usage.json.budgets).toEqual([expect.objectContaining({ app: 'test-app', monthly_calls: 1000, used_calls: 1000 })]);
    }
    expect(billable).toBe(1000);
    const m = await scrape(stack.meterUrl);
    expect(sum(m, 'frs_app_budget_used_ratio', { app: 'test-app', kind: 'calls' })).toBe(1);
    expect(sum(m, 'frs_app_budget_remaining', { app: 'test-app', kind: 'calls' })).toBe(0);
    expect(sum(m, 'frs_app_budget_threshold_crossed_ratio', { app: 'test-app', kind: 'calls' })).toBe(0.95);
    const audit = await admin(stack.meterUrl, 'GET', '/admin/audit');
    expect(JSON.stringify(audit.json)).toContain('budget.put');
  });

  it('one replica SIGKILLed mid-way: the ledger never passes 1,000 and its lease expires after the TTL', async () => {
    const app = await stack.createApp('kill-app');
    const spawned = await startProcess(serviceEnv(stack.emulatorUrl, stack.databaseUrl, 'aksk', { ...FAST, PORT: '0' }));
    try {
      const put = await admin(stack.meterUrl, 'PUT', '/admin/apps/kill-app/budget', { monthly_calls: 1000, operations: ['face_compare'], action: 'block' });
      expect(put.status).toBe(200);
      for (const u of [r2.url, r3.url, spawned.url]) expect((await admin(u, 'GET', '/admin/apps/kill-app/budget')).status).toBe(200);
      let killed = false;
      let checking = false;
      const holdsLease = async (): Promise<boolean> => {
        const leases: Array<{ replica: string; state: string }> = (await admin(stack.meterUrl, 'GET', '/admin/apps/kill-app/budget')).json.leases;
        return leases.some((l) => l.state === 'active' && l.replica.includes(`-${spawned.child.pid}-`));
      };
      // Killed mid-way while it holds a lease (between two leases, or idle, it would strand none and
      // the TTL path this test is about would not run).
      const result = await drain(stack, app.api_key, 'face_compare', [stack.meterUrl, r2.url, spawned.url], 20, (n) => {
        if (n < 300 || killed || checking) return;
        checking = true;
        void holdsLease()
          .then((holds) => {
            if (holds && !killed) {
              killed = true;
              spawned.child.kill('SIGKILL');
            }
          })
          .finally(() => (checking = false));
      });
      expect(killed).toBe(true);
      const reached = served(stack, 'face_compare');
      expect(reached).toBeLessThanOrEqual(1000);
      expect(result.refusals.length).toBeGreaterThan(0);
      // After the TTL (3 s) a replica's renewal tick closes the dead one's lease as expired.
      let leases: Array<{ replica: string; state: string; calls: number }> = [];
      for (let i = 0; i < 60; i++) {
        await sleep(250);
        leases = (await admin(stack.meterUrl, 'GET', '/admin/apps/kill-app/budget')).json.leases;
        if (!leases.some((l) => l.state === 'active' && l.replica.includes(`-${spawned.child.pid}-`))) break;
      }
      const dead = leases.filter((l) => l.replica.includes(`-${spawned.child.pid}-`));
      expect(dead.length).toBeGreaterThan(0);
      expect(dead.every((l) => l.state !== 'active')).toBe(true);
      // Exactly one block is stranded: the dead replica's lease, at most 100 calls
      // (FRS_METER_BUDGET_LEASE_CALLS); every other call of the cap reached the emulator.
      const expired = dead.filter((l) => l.state === 'expired');
      expect(expired).toHaveLength(1);
      expect(expired[0].calls).toBeLessThanOrEqual(100);
      expect(reached).toBeGreaterThanOrEqual(1000 - expired[0].calls);
      expect(leases.filter((l) => l.state === 'expired')).toHaveLength(1);
    } finally {
      if (spawned.child.exitCode === null && spawned.child.signalCode === null) spawned.child.kill('SIGKILL');
    }
  }, 120_000);
});

describe('currency budget with a price table and a free tier', () => {
  let stack: Stack;

  beforeAll(async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'frs-meter-prices-'));
    const prices = path.join(dir, 'prices.json');
    // face_detect: the 1st and 2nd pay-per-use calls of the month at 0.01, every later one at 0.02.
    writeFileSync(prices, JSON.stringify({ currency: 'CNY', operations: { face_detect: [{ upTo: 2, unitPrice: '0.01' }, { upTo: null, unitPrice: '0.02' }], face_compare: [{ upTo: null, unitPrice: '0.05' }] } }));
    // Timeouts pinned at 1.5 s: the emulator answers at once, and one test stalls a call past it.
    stack = await startStack({ env: { ...FAST, FRS_METER_PRICE_TABLE_FILE: prices, FRS_METER_FREE_TIER_CALLS: '3', FRS_METER_TIMEOUT_MIN_SECONDS: '1.5', FRS_METER_TIMEOUT_MAX_SECONDS: '1.5' } });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('free calls cost nothing; the refused call is the first whose tier price would cross the cap', async () => {
    const put = await admin(stack.meterUrl, 'PUT', '/admin/apps/test-app/budget', { monthly_amount: '0.05', operations: ['face_detect'], action: 'block' });
    expect(put.status).toBe(200);
    const answers: number[] = [];
    for (let i = 0; i < 8; i++) answers.push((await call(stack.meterUrl, stack, stack.apiKey, 'face_detect')).status);
    // Calls 1–3: free tier, 0. Call 4: 0.01, call 5: 0.01, call 6: 0.02 → 0.04 spent.
    // Call 7 would cost 0.02 → 0.06 > 0.05: refused, and so is call 8.
    expect(answers).toEqual([200, 200, 200, 200, 200, 200, 402, 402]);
    expect(served(stack, 'face_detect')).toBe(6);
    const got = await admin(stack.meterUrl, 'GET', '/admin/apps/test-app/budget');
    expect(got.json).toMatchObject({ monthly_amount: '0.05', used_calls: 6, used_amount: '0.04', currency: 'CNY' });
  });

  it('upstream 503s do not consume a budget: the reservation goes back', async () => {
    const app = await stack.createApp('flaky-app');
    expect((await admin(stack.meterUrl, 'PUT', '/admin/apps/flaky-app/budget', { monthly_calls: 3, operations: ['face_compare'], action: 'block' })).status).toBe(200);
    stack.emulator.setFaults({ errors: { face_compare: { 'FRS.0018': { rate: 1, status: 503 } } } });
    const failing: number[] = [];
    for (let i = 0; i < 5; i++) failing.push((await call(stack.meterUrl, stack, app.api_key, 'face_compare')).status);
    expect(failing).toEqual([503, 503, 503, 503, 503]);
    stack.emulator.setFaults({ errors: {} });
    const after: number[] = [];
    for (let i = 0; i < 4; i++) after.push((await call(stack.meterUrl, stack, app.api_key, 'face_compare')).status);
    // The cap of 3 is whole: 3 succeed, the 4th is refused.
    expect(after).toEqual([200, 200, 200, 402]);
    const got = await admin(stack.meterUrl, 'GET', '/admin/apps/flaky-app/budget');
    expect(got.json).toMatchObject({ used_calls: 3, committed_calls: 3 });
  });

  it('a call cut at the timeout keeps its reservation (FRS may have billed it); alert_only never refuses', async () => {
    const app = await stack.createApp('cut-app');
    expect((await admin(stack.meterUrl, 'PUT', '/admin/apps/cut-app/budget', { monthly_calls: 2, operations: ['face_compare'], action: 'block' })).status).toBe(200);
    stack.emulator.setFaults({ stalls: { face_compare: { fraction: 1, seconds: 3 } } });
    const cut = await call(stack.meterUrl, stack, app.api_key, 'face_compare');
    expect([cut.status, cut.json.error_code]).toEqual([504, 'METER.0504']);
    stack.emulator.setFaults({ stalls: {} });
    // Cap 2: the cut call holds one, so one more succeeds and the next is refused.
    const after: number[] = [];
    for (let i = 0; i < 2; i++) after.push((await call(stack.meterUrl, stack, app.api_key, 'face_compare')).status);
    expect(after).toEqual([200, 402]);
    expect((await admin(stack.meterUrl, 'GET', '/admin/apps/cut-app/budget')).json).toMatchObject({ used_calls: 1, committed_calls: 2 });

    const watch = await stack.createApp('watch-app');
    expect((await admin(stack.meterUrl, 'PUT', '/admin/apps/watch-app/budget', { monthly_calls: 1, operations: ['face_compare'], action: 'alert_only' })).status).toBe(200);
    const watched: number[] = [];
    for (let i = 0; i < 3; i++) watched.push((await call(stack.meterUrl, stack, watch.api_key, 'face_compare')).status);
    expect(watched).toEqual([200, 200, 200]);
    expect((await admin(stack.meterUrl, 'GET', '/admin/apps/watch-app/budget')).json).toMatchObject({ action: 'alert_only', used_calls: 3, committed_calls: 0 });
    const m = await scrape(stack.meterUrl);
    // 3 of 1 used: ratio 3, nothing left, the highest threshold (0.95) crossed.
    expect(sum(m, 'frs_app_budget_used_ratio', { app: 'watch-app', kind: 'calls' })).toBe(3);
    expect(sum(m, 'frs_app_budget_remaining', { app: 'watch-app', kind: 'calls' })).toBe(0);
    expect(sum(m, 'frs_app_budget_threshold_crossed_ratio', { app: 'watch-app', kind: 'calls' })).toBe(0.95);
  });

  it('refuses bad budget input naming the problem and writes nothing; DELETE removes the budget', async () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ action: 'block' }, /at least one cap is required/],
      [{ monthly_calls: 0, action: 'block' }, /monthly_calls must be a whole number/],
      [{ monthly_amount: 250, action: 'block' }, /monthly_amount must be a positive decimal string/],
      [{ monthly_calls: 10, action: 'stop' }, /action must be "block" or "alert_only"/],
      [{ monthly_calls: 10, action: 'block', operations: ['face_list'] }, /face_list is not billable/],
      [{ monthly_calls: 10, action: 'block', alert_thresholds: [0.9, 0.5] }, /alert_thresholds must be increasing/],
      [{ monthly_calls: 10, action: 'block', cap: 3 }, /unknown field "cap"/],
      [{ monthly_amount: '1.00', action: 'block', operations: ['face_search'] }, /no price for face_search/],
    ];
    const app = await stack.createApp('bad-input-app');
    for (const [body, msg] of bad) {
      const r = await admin(stack.meterUrl, 'PUT', `/admin/apps/${app.name}/budget`, body);
      expect({ body, status: r.status, code: r.json.error_code }).toEqual({ body, status: 400, code: 'METER.0400' });
      expect(r.json.error_msg).toMatch(msg);
    }
    expect((await admin(stack.meterUrl, 'GET', `/admin/apps/${app.name}/budget`)).status).toBe(404);
    expect((await admin(stack.meterUrl, 'PUT', '/admin/apps/no-such-app/budget', { monthly_calls: 1, action: 'block' })).status).toBe(404);
    expect((await admin(stack.meterUrl, 'DELETE', '/admin/apps/flaky-app/budget')).status).toBe(200);
    expect((await admin(stack.meterUrl, 'GET', '/admin/apps/flaky-app/budget')).status).toBe(404);
    // Without a budget the app's calls go through again.
    const flaky = (await stack.createApp('after-delete')).api_key;
    expect((await call(stack.meterUrl, stack, flaky, 'face_compare')).status).toBe(200);
  });
});
