// Issue #4 end to end: the proxy's p99-driven timeouts, safe retries, retry budget, keep-alive
// and token refresh against the bundled emulator's injected faults, over real HTTP.
//
// Time is scaled down to keep the file short: the emulator answers at latencyScale 0.2 (face_detect
// p99 ≈ 60 ms instead of ≈ 300 ms), so the timeout in force is ≈ 120 ms instead of ≈ 600 ms, with
// FRS_METER_TIMEOUT_MIN_SECONDS and the backoff base lowered in proportion. The stall itself is
// the real 3 s. `npm run bench:stall` runs the same stall scenario at real scale.

import { request } from 'undici';
import { OperationName, pathFor } from '../src/frs/operations';
import { TIMEOUT_CACHE_MS } from '../src/proxy/timeout-policy';
import { startStack, Stack } from './support/stack';
import { scrape, sum } from './support/metrics';

const IMAGE = Buffer.alloc(3 * 1024, 7).toString('base64');
const SCALE = 0.2;

interface Result {
  readonly status: number;
  readonly seconds: number;
  readonly body: Record<string, unknown>;
}

async function call(stack: Stack, op: Exclude<OperationName, 'unknown'>, body: Record<string, unknown>, set = 'default'): Promise<Result> {
  const t0 = performance.now();
  const res = await request(`${stack.meterUrl}${pathFor(op, stack.projectId, set)}`, {
    method: 'POST',
    headers: { 'x-auth-token': stack.apiKey, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, seconds: (performance.now() - t0) / 1000, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const detect = (stack: Stack) => call(stack, 'face_detect', { image_base64: IMAGE });

/** `n` calls, `concurrency` at a time. */
async function load(n: number, concurrency: number, fn: (i: number) => Promise<Result>): Promise<Result[]> {
  const out: Result[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) out.push(await fn(next++));
    }),
  );
  return out;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function statuses(results: Result[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const r of results) out[r.status] = (out[r.status] ?? 0) + 1;
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `token` null sends no Authorization header. */
async function admin(stack: Stack, path: string, token: string | null = stack.adminToken) {
  const res = await request(`${stack.meterUrl}${path}`, { headers: token !== null ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.statusCode, type: String(res.headers['content-type']), text: await res.body.text() };
}

describe('timeouts from the observed p99 and safe retries', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({
      emulator: { seed: 7, latency: { latencyScale: SCALE }, qps: { face_detect: 100_000, face_add: 100_000 } },
      env: {
        FRS_METER_TIMEOUT_MIN_SECONDS: String(0.25 * SCALE),
        FRS_METER_TIMEOUT_MIN_SAMPLES: '50',
        FRS_METER_RETRY_BACKOFF_BASE_MS: '10',
        // With 2 attempts a call whose retry stalls too (2 % × 2 %) fails: over 600 calls that
        // happens in about one run in five. A third attempt makes "every call succeeds" hold.
        FRS_METER_RETRY_MAX_ATTEMPTS: '3',
      },
    });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('cuts a 3 s stall on 2 % of face_detect calls at ~2 × p99 and retries it: every call succeeds, client p99 far below 3 s', async () => {
    // Warm-up: enough completed attempts for the p99 to replace the 5 s default.
    const warm = await load(200, 8, () => detect(stack));
    expect(statuses(warm)).toEqual({ 200: 200 });
    // The timeout in force is recomputed at most once a second.
    await sleep(TIMEOUT_CACHE_MS + 100);
    const timeouts = JSON.parse((await admin(stack, '/admin/timeouts')).text) as { operations: Array<Record<string, unknown>> };
    const row = timeouts.operations.find((r) => r.operation === 'face_detect') as Record<string, number | string>;
    expect(row.timeout_source).toBe('p99');
    // The emulator's face_detect p99 at this scale is 300 ms × 0.2 = 60 ms, plus the local hop
    // (more on a busy machine: emulator, proxy and client share one event loop here).
    expect(row.p99_seconds).toBeGreaterThan(0.03);
    const timeout = row.timeout_seconds as number;
    expect(timeout).toBeCloseTo(Math.max(0.05, 2 * (row.p99_seconds as number)), 2);

    const before = await scrape(stack.meterUrl);
    stack.emulator.setFaults({ stalls: { face_detect: { fraction: 0.02, seconds: 3 } } });
    const results = await load(600, 8, () => detect(stack));
    stack.emulator.setFaults({ stalls: {} });
    const after = await scrape(stack.meterUrl);

    const cut = sum(after, 'frs_upstream_attempts_total', { operation: 'face_detect', outcome: 'timeout' }) - sum(before, 'frs_upstream_attempts_total', { operation: 'face_detect', outcome: 'timeout' });
    const ok = sum(after, 'frs_upstream_attempts_total', { operation: 'face_detect', outcome: 'success' }) - sum(before, 'frs_upstream_attempts_total', { operation: 'face_detect', outcome: 'success' });
    // About 12 stalls are expected (2 % of 600); every one was cut and retried.
    expect(cut).toBeGreaterThanOrEqual(3);
    expect(ok).toBe(600);
    expect(statuses(results)).toEqual({ 200: 600 });
    const seconds = results.map((r) => r.seconds);
    const p99 = percentile(seconds, 99);
    // A stalled call costs the timeout (≈ 2 × p99 ≈ 0.12 s), a backoff (≤ 20 ms here) and a normal
    // retry: the scaled form of "under 1 s with a normal p99 of ~300 ms". Allowance is made for a
    // busy machine, but an attempt timer that fires late (undici's headersTimeout ticks in ~0.5 s
    // steps) or a stall waited out fails here.
    expect(p99).toBeLessThan(Math.min(1, 2 * timeout + 0.2));
    expect(Math.max(...seconds)).toBeLessThan(1.5);
  });

  it('never retries face_add: a stalled add answers 504 METER.0504 and FRS saw exactly one add', async () => {
    expect((await call(stack, 'face_set_create', { face_set_name: 'people' }, 'people')).status).toBe(200);
    // Warm-up so face_add's timeout follows its p99 too (otherwise the 5 s default would outlast the stall).
    const warm = await load(60, 4, (i) => call(stack, 'face_add', { image_base64: IMAGE, external_image_id: `warm-${i}` }, 'people'));
    expect(statuses(warm)).toEqual({ 200: 60 });
    await sleep(TIMEOUT_CACHE_MS + 100);

    const before = await scrape(stack.meterUrl);
    const seq = stack.emulator.ledger().at(-1)?.seq ?? 0;
    stack.emulator.setFaults({ stalls: { face_add: { fraction: 1, seconds: 1.5 } } });
    const res = await call(stack, 'face_add', { image_base64: IMAGE, external_image_id: 'stalled' }, 'people');
    stack.emulator.setFaults({ stalls: {} });
    expect(res.status).toBe(504);
    expect(res.body.error_code).toBe('METER.0504');
    expect(res.seconds).toBeLessThan(1);

    // The emulator writes the stalled call to its ledger when it finally answers.
    await sleep(1_700);
    const adds = stack.emulator.ledger(seq).filter((e) => e.operation === 'face_add');
    expect(adds).toHaveLength(1);
    const after = await scrape(stack.meterUrl);
    const attempts = (outcome: string) => sum(after, 'frs_upstream_attempts_total', { operation: 'face_add', outcome }) - sum(before, 'frs_upstream_attempts_total', { operation: 'face_add', outcome });
    expect(attempts('timeout')).toBe(1);
    expect(attempts('success') + attempts('server_error') + attempts('connection_error')).toBe(0);
  });

  it('a connection reset after the request was sent: face_detect goes again on a fresh connection, face_add does not', async () => {
    const seq = stack.emulator.ledger().at(-1)?.seq ?? 0;
    stack.emulator.setFaults({ resets: { face_detect: 1, face_add: 1 } });
    const d = await detect(stack);
    const a = await call(stack, 'face_add', { image_base64: IMAGE, external_image_id: 'reset' }, 'people');
    stack.emulator.setFaults({ resets: {} });
    expect([d.status, d.body.error_code]).toEqual([502, 'METER.0502']);
    expect([a.status, a.body.error_code]).toEqual([502, 'METER.0502']);
    const seen = stack.emulator.ledger(seq);
    // Every allowed attempt of face_detect (3 here) reached FRS and was reset; face_add reached it once and was not repeated.
    expect(seen.filter((e) => e.operation === 'face_detect').map((e) => e.status)).toEqual([0, 0, 0]);
    expect(seen.filter((e) => e.operation === 'face_add').map((e) => e.status)).toEqual([0]);
    expect((await detect(stack)).status).toBe(200);
  });

  it('GET /admin/timeouts shows percentiles, the timeout in force and the recommended client timeout, as JSON and CSV', async () => {
    expect((await admin(stack, '/admin/timeouts', null)).status).toBe(401);
    expect((await admin(stack, '/admin/timeouts', 'wrong-token-123')).status).toBe(401);
    expect((await admin(stack, '/admin/timeouts?format=xml')).status).toBe(400);

    const json = await admin(stack, '/admin/timeouts');
    expect(json.status).toBe(200);
    const rows = (JSON.parse(json.text) as { operations: Array<Record<string, unknown>> }).operations;
    expect(rows).toHaveLength(16);
    const detectRow = rows.find((r) => r.operation === 'face_detect') as Record<string, number>;
    expect(detectRow.p50_seconds).toBeLessThanOrEqual(detectRow.p95_seconds);
    expect(detectRow.p95_seconds).toBeLessThanOrEqual(detectRow.p99_seconds);
    expect(detectRow.samples).toBeGreaterThanOrEqual(800);
    expect(detectRow.max_attempts).toBe(3);
    // Three attempts at the timeout in force, the longest backoff (1 s, after a throttled answer) twice, 0.5 s margin.
    expect(detectRow.recommended_client_timeout_seconds).toBe(Math.ceil((3 * detectRow.timeout_seconds + 2 + 0.5) * 10) / 10);
    expect(rows.find((r) => r.operation === 'face_add')).toMatchObject({ max_attempts: 1, timeout_source: 'p99' });
    expect(rows.find((r) => r.operation === 'live_detect')).toMatchObject({ p99_seconds: null, samples: 0, timeout_seconds: 15, timeout_source: 'default' });

    const csv = await admin(stack, '/admin/timeouts?format=csv');
    expect(csv.status).toBe(200);
    expect(csv.type).toContain('text/csv');
    const lines = csv.text.trim().split('\r\n');
    expect(lines[0]).toBe('operation,p50_seconds,p95_seconds,p99_seconds,samples,timeout_seconds,timeout_source,max_attempts,recommended_client_timeout_seconds');
    expect(lines).toHaveLength(17);
    expect(lines.find((l) => l.startsWith('live_detect,'))).toBe('live_detect,,,,0,15,default,3,47.5');

    // The gauges carry the same numbers.
    const metrics = await scrape(stack.meterUrl);
    expect(sum(metrics, 'frs_upstream_timeout_seconds', { operation: 'live_detect' })).toBe(15);
    expect(sum(metrics, 'frs_latency_p99_seconds', { operation: 'face_detect' })).toBeGreaterThan(0.03);
    expect(metrics.some((s) => s.name === 'frs_latency_p99_seconds' && s.labels.operation === 'live_detect')).toBe(false);
  });
});

describe('retry budget and idle connections', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({
      emulator: { seed: 11, latency: { latencyScale: 0 }, qps: { face_detect: 100_000 } },
      env: { FRS_METER_RETRY_BACKOFF_BASE_MS: '1' },
    });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('under 50 % 503s, upstream attempts stay within requests × 1.1 + the budget floor; recovery is immediate', async () => {
    const floor = 10; // FRS_METER_RETRY_BUDGET_MIN_PER_MINUTE default
    const seq = stack.emulator.ledger().at(-1)?.seq ?? 0;
    stack.emulator.setFaults({ errors: { face_detect: { 'FRS.0018': { rate: 0.5, status: 503 } } } });
    const during = await load(300, 8, () => detect(stack));
    stack.emulator.setFaults({ errors: {} });
    const attempts = stack.emulator.ledger(seq).filter((e) => e.operation === 'face_detect').length;
    // Without a budget, ~150 of the 300 would have been retried.
    expect(attempts).toBeLessThanOrEqual(Math.floor(300 * 1.1) + floor);
    // The budget was used, not ignored: some 503s were retried into successes.
    expect(attempts).toBeGreaterThan(300 + floor);
    const s = statuses(during);
    expect(Object.keys(s).sort()).toEqual(['200', '503']);
    // The 503s that reach the client are FRS's own, passed through unchanged.
    expect(during.find((r) => r.status === 503)?.body.error_code).toBe('FRS.0018');

    const recovered = await load(50, 8, () => detect(stack));
    expect(statuses(recovered)).toEqual({ 200: 50 });
  });

  it('the emulator closes idle connections after 2 s and traffic pauses 1.5–2.5 s: no client-visible errors', async () => {
    // Scaled from the 5 s idle cut and 6 s gaps. Node's server announces its cut in
    // `Keep-Alive: timeout=2`; the pool stops reusing a socket a second before an announced cut
    // (keepAliveTimeoutThreshold), so a pause of 1.5 s (past the pool's 1 s, before the server's
    // 2 s) and one of 2.5 s (past both) must each end on fresh sockets without a failed attempt.
    stack.emulator.setFaults({ idleCloseSeconds: 2 });
    await load(8, 8, () => detect(stack)); // every pooled socket now knows the new cut
    const before = await scrape(stack.meterUrl);
    const results: Result[] = [];
    for (const pause of [2_500, 1_500, 2_500]) {
      await sleep(pause);
      results.push(...(await load(40, 8, () => detect(stack))));
    }
    stack.emulator.setFaults({ idleCloseSeconds: 300 });
    const after = await scrape(stack.meterUrl);
    expect(statuses(results)).toEqual({ 200: 120 });
    const failed = (outcome: string) => sum(after, 'frs_upstream_attempts_total', { operation: 'face_detect', outcome }) - sum(before, 'frs_upstream_attempts_total', { operation: 'face_detect', outcome });
    expect(failed('connection_error')).toBe(0);
    expect(failed('success')).toBe(120);
  });

  it('at the issue\'s real scale — idle cut after 5 s, gaps of 6 s — no client-visible errors either', async () => {
    stack.emulator.setFaults({ idleCloseSeconds: 5 });
    await load(8, 8, () => detect(stack));
    const before = await scrape(stack.meterUrl);
    const results: Result[] = [];
    for (let gap = 0; gap < 2; gap++) {
      await sleep(6_000);
      results.push(...(await load(40, 8, () => detect(stack))));
    }
    stack.emulator.setFaults({ idleCloseSeconds: 300 });
    const after = await scrape(stack.meterUrl);
    expect(statuses(results)).toEqual({ 200: 80 });
    const attempts = (outcome: string) => sum(after, 'frs_upstream_attempts_total', { operation: 'face_detect', outcome }) - sum(before, 'frs_upstream_attempts_total', { operation: 'face_detect', outcome });
    expect(attempts('connection_error')).toBe(0);
    expect(attempts('success')).toBe(80);
  }, 60_000);
});

describe('upstream IAM token lifetime of 5 s', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ upstreamAuth: 'iam', emulator: { seed: 3, latency: { latencyScale: 0 }, tokenLifetimeSeconds: 5, qps: { face_detect: 100_000 } } });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('no client-visible errors across many expiries, refreshed ahead of time or after FRS rejects the token', async () => {
    const seq = stack.emulator.ledger().at(-1)?.seq ?? 0;
    const results: Result[] = [];
    const traffic = async (ms: number) => {
      const until = Date.now() + ms;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (Date.now() < until) {
            results.push(await detect(stack));
            await sleep(20);
          }
        }),
      );
    };
    // Natural expiry: tokens live 5 s and are refreshed a fifth of their life ahead.
    await traffic(5_500);
    // Revocation as FRS sees it: the emulator's clock jumps past each token's expiry while the
    // proxy still holds it, so calls are rejected with APIG.0301 and the proxy refreshes and retries.
    for (let i = 1; i <= 3; i++) {
      stack.emulator.setClock({ offsetMs: i * 6_000 });
      await traffic(600);
    }
    stack.emulator.setClock(null);
    expect(results.length).toBeGreaterThan(200);
    expect(statuses(results)).toEqual({ 200: results.length });
    const rejected = stack.emulator.ledger(seq).filter((e) => e.errorCode === 'APIG.0301').length;
    expect(rejected).toBeGreaterThanOrEqual(3);
  });
});
