// The BSS client against the emulator's BSS plugin over real HTTP: its request rate measured
// from the emulator's arrival times, retries with backoff on 429 / CBC.0250 / 5xx, errors that
// arrive with HTTP 200, and IAM domain tokens (fetched, cached, replaced on CBC.0154).

import { request } from 'undici';
import { Logger } from '@nestjs/common';
import { ManualClock } from '../src/common/clock';
import { UpstreamAuth } from '../src/config/config';
import { RunningEmulator, startEmulator } from '../src/emulator/emulator';
import { BssPlugin, bssPlugin } from '../src/emulator/bss/bss-plugin';
import { BssClient, BssClientOptions, BssError } from '../src/billing/bss-client';

const AK = 'BSSCLIENTTESTAK00001';
const SK = 'bss-client-test-secret-key-000000000001';
const USER = { domainName: 'bss-domain', username: 'bss-user', password: 'bss-password-1' };
const SUM = '/v2/bills/customer-bills/monthly-sum';

let bss: BssPlugin;
let em: RunningEmulator;
const clients: BssClient[] = [];

function client(opts: Partial<BssClientOptions> = {}, auth: UpstreamAuth = { kind: 'aksk', ak: AK, sk: SK }): BssClient {
  const c = new BssClient({
    endpoint: em.url,
    auth,
    language: 'zh_CN',
    requestsPerSecond: 10,
    maxAttempts: 4,
    backoffBaseMs: 100,
    backoffMaxMs: 1000,
    timeoutMs: 5000,
    clock: new ManualClock(),
    ...opts,
  });
  clients.push(c);
  return c;
}

const iam = (refreshMarginSeconds = 60): UpstreamAuth => ({ kind: 'iam', endpoint: em.url, ...USER, domainName: USER.domainName, refreshMarginSeconds });

beforeAll(async () => {
  Logger.overrideLogger(false);
  bss = bssPlugin();
  em = await startEmulator({ plugins: [bss], credentials: [{ ak: AK, sk: SK }], iamUsers: [USER], latency: { latencyScale: 0 }, log: () => undefined });
});

afterAll(async () => {
  for (const c of clients) await c.close();
  await em.close();
  Logger.overrideLogger(['log', 'warn', 'error']);
});

beforeEach(() => {
  bss.setFaults([]);
  bss.configure({ requestsPerSecond: 10 });
  bss.clearRequests();
});

describe('rate', () => {
  it('stays at or under 10 requests per second, measured at the emulator, and is never throttled', async () => {
    const c = client();
    const started = Date.now();
    // Sequential and concurrent callers share one limit.
    await Promise.all(Array.from({ length: 3 }, async () => {
      for (let i = 0; i < 12; i++) await c.monthlySum('2025-01', 'hws.service.type.frs');
    }));
    const elapsed = Date.now() - started;
    const log = bss.requests();
    expect(log).toHaveLength(36);
    expect(log.every((r) => r.status === 200)).toBe(true);
    const at = log.map((r) => r.at).sort((a, b) => a - b);
    // In any window of one second there are at most 10 arrivals.
    let maxInWindow = 0;
    for (let i = 0; i < at.length; i++) {
      let j = i;
      while (j < at.length && at[j] < at[i] + 1000) j++;
      maxInWindow = Math.max(maxInWindow, j - i);
    }
    expect(maxInWindow).toBeLessThanOrEqual(10);
    // ... and not much slower than the limit allows: 36 requests need a bit more than 3 s.
    expect(elapsed).toBeGreaterThanOrEqual(3000);
    expect(elapsed).toBeLessThan(5000);
  });
});

describe('retries', () => {
  it('retries 429 CBC.0250 with growing backoff, then succeeds', async () => {
    const c = client();
    bss.setFaults([{ kind: 'throttle', times: 2 }]);
    const r = await c.monthlySum('2025-01', 'hws.service.type.frs');
    expect(r.first.total_count).toBe('0');
    const log = bss.requests();
    expect(log.map((x) => `${x.status} ${x.errorCode ?? ''}`.trim())).toEqual(['429 CBC.0250', '429 CBC.0250', '200']);
    // Backoff 100 ms then 200 ms with equal jitter: at least half of each step.
    expect(log[1].at - log[0].at).toBeGreaterThanOrEqual(50);
    expect(log[2].at - log[1].at).toBeGreaterThanOrEqual(100);
    expect(c.stats.retries).toBe(2);
  });

  it('treats CBC.0250 answered with HTTP 200 as throttling and retries it', async () => {
    const c = client();
    bss.setFaults([{ kind: 'error_200', code: 'CBC.0250' }]);
    await c.monthlySum('2025-01', 'hws.service.type.frs');
    expect(bss.requests().map((x) => `${x.status} ${x.errorCode ?? ''}`.trim())).toEqual(['200 CBC.0250', '200']);
  });

  it('recognises a business error answered with HTTP 200 and does not retry it', async () => {
    const c = client();
    bss.setFaults([{ kind: 'error_200', code: 'CBC.30050001', times: 0 }]);
    const err = await c.monthlySum('2025-01', 'hws.service.type.frs').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BssError);
    expect(err).toMatchObject({ status: 200, errorCode: 'CBC.30050001', retryable: false, path: SUM });
    expect(bss.requests()).toHaveLength(1);
  });

  it('retries 5xx up to the attempt limit, then gives up with the error', async () => {
    const c = client({ maxAttempts: 3, backoffBaseMs: 10 });
    bss.setFaults([{ kind: 'server_error', status: 503, code: 'CBC.0999', times: 0 }]);
    const err = await c.monthlySum('2025-01', 'hws.service.type.frs').catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 503, errorCode: 'CBC.0999', retryable: true });
    expect(bss.requests()).toHaveLength(3);
  });

  it('does not retry a client error', async () => {
    const c = client();
    const err = await c.call('GET', SUM, { query: { bill_cycle: 'bad' } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400, errorCode: 'CBC.0100', retryable: false });
    expect(bss.requests()).toHaveLength(1);
  });

  it('fails on a wrong secret key with the gateway code and no retry (the AK would be locked after 5 failures)', async () => {
    const c = client({}, { kind: 'aksk', ak: AK, sk: 'wrong-secret-key-000000000000000000000' });
    const err = await c.monthlySum('2025-01', 'x').catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 401, errorCode: 'APIG.0301', retryable: false });
    expect(bss.requests()).toHaveLength(1);
  });
});

describe('IAM token auth', () => {
  it('fetches a domain-scoped token, reuses it, and replaces it once when BSS says CBC.0154', async () => {
    const c = client({}, iam());
    await c.monthlySum('2025-01', 'hws.service.type.frs');
    await c.monthlySum('2025-01', 'hws.service.type.frs');
    bss.setFaults([{ kind: 'token_expired' }]);
    await c.monthlySum('2025-01', 'hws.service.type.frs');
    const log = bss.requests();
    expect(log.map((x) => `${x.status} ${x.auth ?? ''}`.trim())).toEqual(['200 token', '200 token', '401 token', '200 token']);
    expect(log[2].errorCode).toBe('CBC.0154');
    expect(c.stats.retries).toBe(0);
  });

  it('fetches a new token shortly before expires_at', async () => {
    const clock = new ManualClock();
    const c = client({ clock }, iam(3600));
    await c.monthlySum('2025-01', 'x');
    // The emulator's tokens live 24 h; 23 h later the 1 h margin says "refresh first".
    clock.advance(23 * 3600_000 + 1000);
    await c.monthlySum('2025-01', 'x');
    expect(bss.requests().map((x) => x.status)).toEqual([200, 200]);
  });

  it('reports a wrong password as an IAM error', async () => {
    const c = client({}, { ...iam(), password: 'nope' } as UpstreamAuth);
    const err = await c.monthlySum('2025-01', 'x').catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 401, errorCode: 'METER.IAM' });
    expect(bss.requests()).toHaveLength(0);
  });
});

describe('the emulator BSS plugin', () => {
  async function raw(method: 'GET' | 'PUT' | 'POST', p: string, body?: unknown, headers: Record<string, string> = {}) {
    const res = await request(`${em.url}${p}`, { method, headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> };
  }

  it('answers the service-types dictionary by Chinese or English name', async () => {
    const zh = await client().serviceTypes('人脸识别');
    expect(zh).toEqual([{ service_type_name: '人脸识别', service_type_code: 'hws.service.type.frs', abbreviation: 'FRS' }]);
    const en = await client({ language: 'en_US' }).serviceTypes('Face Recognition');
    expect(en).toEqual([{ service_type_name: 'Face Recognition Service', service_type_code: 'hws.service.type.frs', abbreviation: 'FRS' }]);
    expect(await client().serviceTypes('识别')).toHaveLength(2);
  });

  it('checks credentials, scope and paging like BSS, and never writes BSS calls to the FRS ledger', async () => {
    const unsigned = await raw('GET', `${SUM}?bill_cycle=2025-01`);
    expect(unsigned).toMatchObject({ status: 401, json: { error_code: 'APIG.0301' } });
    const projectToken = em.issueToken({ projectId: 'p1' }).token;
    expect(await raw('GET', `${SUM}?bill_cycle=2025-01`, undefined, { 'x-auth-token': projectToken })).toMatchObject({ status: 403, json: { error_code: 'CBC.0151' } });
    const domainToken = em.issueToken().token;
    expect(await raw('GET', `${SUM}?bill_cycle=2025-01&limit=1001`, undefined, { 'x-auth-token': domainToken })).toMatchObject({ status: 400, json: { error_code: 'CBC.0100' } });
    expect(await raw('GET', '/v2/bills/customer-bills/fee-records?bill_cycle=2025-01', undefined, { 'x-auth-token': domainToken })).toMatchObject({ status: 404 });
    expect(await raw('GET', `${SUM}?bill_cycle=2025-01`, undefined, { 'x-auth-token': 'MIIunknown' })).toMatchObject({ status: 401, json: { error_code: 'CBC.0154' } });
    expect(em.ledger().filter((e) => e.path.startsWith('/v2/bills'))).toEqual([]);
  });

  it('takes faults and settings through its control endpoint', async () => {
    const put = await raw('PUT', '/__bss/faults', { faults: [{ kind: 'throttle', times: 1 }] });
    expect(put).toMatchObject({ status: 200, json: { faults: [{ kind: 'throttle', times: 1 }] } });
    expect(await raw('PUT', '/__bss/faults', { faults: [{ kind: 'explode' }] })).toMatchObject({ status: 400 });
    const c = client();
    await c.monthlySum('2025-01', 'x');
    const log = (await raw('GET', '/__bss/requests')).json.requests as { status: number }[];
    expect(log.map((r) => r.status)).toEqual([429, 200]);
    expect(await raw('PUT', '/__bss/settings', { measureId: 3, amountFormat: 'string' })).toMatchObject({ status: 200 });
    const { first } = await c.monthlySum('2025-01', 'x');
    expect(first.measure_id).toBe('3');
    expect(await raw('PUT', '/__bss/settings', { packages: [{ orderInstanceId: 'x' }] })).toMatchObject({ status: 400 });
    bss.configure({ measureId: 1, amountFormat: 'number' });
  });
});
