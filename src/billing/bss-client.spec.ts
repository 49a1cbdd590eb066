// The BSS client signs exactly what it sends, and its signature is the official Huawei Node SDK
// signer's for the same request: a local server captures the requests as they arrive on the
// wire and each one is re-signed with AKSKSigner from what was received.

import { AKSKSigner } from '@huaweicloud/huaweicloud-sdk-core/auth/AKSKSigner';
import { IncomingMessage, Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ManualClock } from '../common/clock';
import { verifySignature } from '../frs/signer';
import { BssClient, BssClientOptions, RateLimiter, buildQuery } from './bss-client';

const AK = 'BSSAKEXAMPLE00000001';
const SK = 'bss-example-secret-key-0123456789abcdef';
const NOW = new Date('2025-02-03T04:05:06.789Z');

interface Captured {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

function officialAuthorization(c: Captured, host: string): string {
  const u = new URL(`http://${host}${c.url}`);
  const queryParams: Record<string, string | string[]> = {};
  for (const [k, v] of u.searchParams) {
    const prev = queryParams[k];
    queryParams[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  const headers: Record<string, string> = { 'X-Sdk-Date': String(c.headers['x-sdk-date']) };
  for (const name of ['content-type', 'x-language']) if (c.headers[name] !== undefined) headers[name] = String(c.headers[name]);
  const credential = { getAk: () => AK, getSk: () => SK } as unknown as Parameters<typeof AKSKSigner.sign>[1];
  const signed = AKSKSigner.sign(
    {
      endpoint: `http://${host}${u.pathname}`,
      method: c.method,
      headers,
      queryParams: Object.keys(queryParams).length > 0 ? queryParams : undefined,
      data: c.body === '' ? undefined : JSON.parse(c.body),
    },
    credential,
  ) as Record<string, string>;
  return signed.Authorization;
}

describe('BssClient signing', () => {
  let server: Server;
  let host: string;
  const captured: Captured[] = [];
  let answer: (c: Captured) => unknown = () => ({ total_count: 0 });

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => {
        const c = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
        captured.push(c);
        res.writeHead(200, { 'content-type': 'application/json' });
        const a = answer(c);
        res.end(typeof a === 'string' ? a : JSON.stringify(a));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  beforeEach(() => {
    captured.length = 0;
    answer = () => ({ total_count: 0 });
  });

  function client(overrides: Partial<BssClientOptions> = {}): BssClient {
    return new BssClient({
      endpoint: `http://${host}`,
      auth: { kind: 'aksk', ak: AK, sk: SK },
      language: 'zh_CN',
      requestsPerSecond: 1000,
      maxAttempts: 1,
      backoffBaseMs: 1,
      backoffMaxMs: 1,
      timeoutMs: 5000,
      clock: new ManualClock(NOW, { frozen: true }),
      ...overrides,
    });
  }

  it('signs every BSS call the way the official SDK signer does (queries, unicode, JSON and empty bodies)', async () => {
    const c = client();
    answer = (req) =>
      req.url.startsWith('/v2/payments/free-resources/usages/details/query') ? { free_resources: [] } : { total_count: 0, service_types: [], bill_sums: [], fee_records: [], free_resource_packages: [] };
    await c.serviceTypes('人脸识别');
    await c.monthlySum('2025-01', 'hws.service.type.frs');
    await c.resFeeRecords('2025-01', 'hws.service.type.frs', 1);
    await c.resFeeRecords('2025-01', 'hws.service.type.frs', 3);
    await c.freeResourcePackages('hws.service.type.frs');
    await c.freeResourceUsages(['d4463497-991b-439d-9ab6-23f9ed197fe9', '资源项 2']);
    await c.call('GET', '/v2/bills/customer-bills/fee-records', { query: { bill_cycle: '2025-01', enterprise_project_id: "a b!*'()~", region_code: '' } });
    await c.call('POST', '/v2/bills/customer-bills/res-records/query', { body: { cycle: '2025-01', resource_type: '云服务器 "x"', limit: 10 } });
    await c.call('POST', '/v2/bills/customer-bills/res-records/query', {});
    await c.close();

    expect(captured).toHaveLength(9);
    for (const req of captured) {
      expect(req.headers['x-sdk-date']).toBe('20250203T040506Z');
      expect(req.headers['x-language']).toBe('zh_CN');
      expect(req.headers.authorization).toBe(officialAuthorization(req, host));
      expect(req.headers.authorization).toContain('SignedHeaders=content-type;host;x-language;x-sdk-date,');
    }
    // What the SDK signs is what the gateway checks: our verifier accepts every request as received.
    for (const req of captured) {
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      const [path, query] = req.url.split('?');
      expect(verifySignature({ method: req.method, path, query, headers, body: req.body }, (ak) => (ak === AK ? SK : undefined), NOW)).toEqual({ ok: true, accessKey: AK });
    }
    const serviceTypes = captured[0];
    expect(serviceTypes.url).toBe(`/v2/products/service-types?service_type_name=${encodeURIComponent('人脸识别')}&offset=0&limit=1000`);
    expect(captured[8].body).toBe('');
    expect(JSON.parse(captured[4].body)).toEqual({ service_type_code_list: ['hws.service.type.frs'], offset: 0, limit: 1000 });
  });

  it('sends X-Language as configured and an IAM-less AK/SK call carries no token', async () => {
    const c = client({ language: 'en_US' });
    await c.monthlySum('2025-01', 'x');
    await c.close();
    expect(captured[0].headers['x-language']).toBe('en_US');
    expect(captured[0].headers['x-auth-token']).toBeUndefined();
  });

  it('pages with limit 1000 until total_count rows are in', async () => {
    answer = (req) => {
      const q = new URL(`http://x${req.url}`).searchParams;
      const offset = Number(q.get('offset'));
      const n = Math.max(0, Math.min(1000, 2345 - offset));
      return { total_count: 2345, fee_records: Array.from({ length: n }, (_, i) => ({ id: String(offset + i) })) };
    };
    const c = client();
    const { items } = await c.resFeeRecords('2025-01', 'x', 3);
    await c.close();
    expect(items.map((r) => Number(r.id))).toEqual(Array.from({ length: 2345 }, (_, i) => i));
    expect(captured.map((r) => new URL(`http://x${r.url}`).searchParams.get('offset'))).toEqual(['0', '1000', '2000']);
    expect(captured.every((r) => new URL(`http://x${r.url}`).searchParams.get('limit') === '1000')).toBe(true);
  });

  it('keeps amounts exact: numbers in the answer arrive as their source text', async () => {
    // A JS number cannot hold these literals; the client must keep every digit.
    answer = () => '{"total_count":1,"bill_sums":[{"consume_amount":12345678901234567.891,"debt_amount":"0.10","x":[1e-7,-0.0]}]}';
    const c = client();
    const { items, first } = await c.monthlySum('2025-01', 'x');
    await c.close();
    expect(items[0]).toEqual({ consume_amount: '12345678901234567.891', debt_amount: '0.10', x: ['1e-7', '-0.0'] });
    expect(first.total_count).toBe('1');
  });
});

describe('buildQuery', () => {
  it('escapes like RFC 3986 and leaves out undefined values', () => {
    expect(buildQuery({ a: 'x y', b: undefined, c: "!*'()", d: 0, e: '人' })).toBe('a=x%20y&c=%21%2A%27%28%29&d=0&e=%E4%BA%BA');
  });
});

describe('RateLimiter', () => {
  /** A fake time line: sleeping moves it (and yields to the event loop, as a real sleep does). */
  function timeline() {
    const state = { t: 0 };
    const sleep = (ms: number) =>
      new Promise<void>((resolve) =>
        setImmediate(() => {
          state.t += ms;
          resolve();
        }),
      );
    return { state, sleep, now: () => state.t };
  }

  it('lets at most N requests be answered or in flight within any second', async () => {
    const tl = timeline();
    const limiter = new RateLimiter(10, tl.sleep, tl.now);
    const starts: number[] = [];
    const answers: number[] = [];
    for (let i = 0; i < 35; i++) {
      const done = await limiter.acquire();
      starts.push(tl.state.t);
      tl.state.t += 7; // the round trip
      answers.push(tl.state.t);
      done();
    }
    // A request starts only a full second after the answer of the one ten before it.
    for (let i = 10; i < starts.length; i++) expect(starts[i]).toBeGreaterThan(answers[i - 10] + 1000);
    expect(starts[34]).toBeLessThan(3 * 1010 + 35 * 7 + 10);
  });

  it('holds a slot while a request is in flight', async () => {
    const tl = timeline();
    const limiter = new RateLimiter(1, tl.sleep, tl.now);
    const first = await limiter.acquire();
    let second = false;
    const next = limiter.acquire().then((d) => {
      second = true;
      return d;
    });
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(second).toBe(false);
    tl.state.t = 5000;
    first();
    (await next)();
    expect(second).toBe(true);
    expect(tl.state.t).toBeGreaterThanOrEqual(6000);
  });

  it('handles rates below one per second', async () => {
    const tl = timeline();
    const limiter = new RateLimiter(0.5, tl.sleep, tl.now);
    (await limiter.acquire())();
    (await limiter.acquire())();
    expect(tl.state.t).toBeGreaterThanOrEqual(2000);
  });
});
