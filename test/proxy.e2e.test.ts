// End to end through real sockets: emulator and service on port 0, an app created through the
// admin API, every catalogue operation called with the app's API key and again signed by the
// official Huawei Node SDK signer, then /metrics and the emulator ledger compared exactly.

import { createHash } from 'node:crypto';
import { request } from 'undici';
import { AKSKSigner } from '@huaweicloud/huaweicloud-sdk-core/auth/AKSKSigner';
import { OperationName, pathFor } from '../src/frs/operations';
import { startStack, Stack, StackApp } from './support/stack';
import { scrape, sum } from './support/metrics';

const IMAGE = Buffer.alloc(150 * 1024, 7).toString('base64'); // ~200 KB of base64
const VIDEO = Buffer.alloc(60 * 1024, 3).toString('base64');

interface Call {
  readonly op: Exclude<OperationName, 'unknown'>;
  readonly method: string;
  readonly path: string;
  readonly query?: Record<string, string>;
  readonly body?: Record<string, unknown>;
}

/** Every catalogue operation, in an order that works against one face set. */
function script(project: string, set: string, faceId: () => string): Array<() => Call> {
  const p = (op: Exclude<OperationName, 'unknown'>) => pathFor(op, project, set);
  return [
    () => ({ op: 'face_set_create', method: 'POST', path: p('face_set_create'), body: { face_set_name: set } }),
    () => ({ op: 'face_detect', method: 'POST', path: p('face_detect'), body: { image_base64: IMAGE, attributes: '2,12' } }),
    () => ({ op: 'face_compare', method: 'POST', path: p('face_compare'), body: { image1_base64: IMAGE, image2_base64: IMAGE } }),
    () => ({ op: 'face_add', method: 'POST', path: p('face_add'), body: { image_base64: IMAGE, external_image_id: 'person-1', single: true } }),
    () => ({ op: 'face_search', method: 'POST', path: p('face_search'), body: { image_base64: IMAGE, top_n: 3 } }),
    () => ({ op: 'face_list', method: 'GET', path: p('face_list'), query: { offset: '0', limit: '5' } }),
    () => ({ op: 'face_update', method: 'PUT', path: p('face_update'), body: { face_id: faceId(), external_image_id: 'person-1b' } }),
    () => ({ op: 'face_delete', method: 'DELETE', path: p('face_delete'), query: { face_id: faceId() } }),
    () => ({ op: 'face_batch_delete', method: 'DELETE', path: p('face_batch_delete'), body: { filter: 'external_image_id:person-9' } }),
    () => ({ op: 'face_set_show', method: 'GET', path: p('face_set_show') }),
    () => ({ op: 'face_set_list', method: 'GET', path: p('face_set_list') }),
    () => ({ op: 'live_detect', method: 'POST', path: p('live_detect'), body: { video_base64: VIDEO, actions: '1' } }),
    () => ({ op: 'live_detect_face', method: 'POST', path: p('live_detect_face'), body: { image_base64: IMAGE } }),
    () => ({ op: 'subscribe_status', method: 'GET', path: p('subscribe_status') }),
    () => ({ op: 'face_set_delete', method: 'DELETE', path: p('face_set_delete') }),
  ];
}

function queryString(q?: Record<string, string>): string {
  return q ? '?' + new URLSearchParams(q).toString() : '';
}

async function callWithKey(stack: Stack, apiKey: string, c: Call) {
  const body = c.body ? JSON.stringify(c.body) : undefined;
  const res = await request(`${stack.meterUrl}${c.path}${queryString(c.query)}`, {
    method: c.method as 'POST',
    headers: { 'x-auth-token': apiKey, ...(body ? { 'content-type': 'application/json' } : {}) },
    body,
  });
  return { status: res.statusCode, headers: res.headers, json: (await res.body.json()) as Record<string, unknown> };
}

/** Signs with the official SDK signer, as the Huawei Node SDK does with only endpoint and AK/SK swapped. */
async function callSigned(stack: Stack, app: StackApp, c: Call) {
  const credential = { getAk: () => app.access_key, getSk: () => app.secret_key } as unknown as Parameters<typeof AKSKSigner.sign>[1];
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  const signed = AKSKSigner.sign(
    { endpoint: `${stack.meterUrl}${c.path}`, method: c.method, headers, queryParams: c.query ? { ...c.query } : undefined, data: c.body },
    credential,
  ) as Record<string, string>;
  const res = await request(`${stack.meterUrl}${c.path}${queryString(c.query)}`, {
    method: c.method as 'POST',
    headers: { ...signed },
    body: c.body ? JSON.stringify(c.body) : undefined,
  });
  return { status: res.statusCode, headers: res.headers, json: (await res.body.json()) as Record<string, unknown> };
}

describe('proxy end to end', () => {
  let stack: Stack;

  beforeAll(async () => {
    // live_detect's real default of 1 QPS would throttle this sequential script; the throttle test sets its own.
    stack = await startStack({ emulator: { qps: { live_detect: 50 } } });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('forwards every operation with an API key and with an official-SDK AK/SK signature, counted exactly', async () => {
    stack.emulator.clearLedger();
    const before = await scrape(stack.meterUrl);
    let faceId = '';
    const seen: OperationName[] = [];
    for (const [mode, set] of [['key', 'set-key'], ['signed', 'set-signed']] as const) {
      for (const make of script(stack.projectId, set, () => faceId)) {
        const call = make();
        const res = mode === 'key' ? await callWithKey(stack, stack.apiKey, call) : await callSigned(stack, stack.app, call);
        expect({ op: call.op, mode, status: res.status, body: res.status >= 400 ? res.json : undefined }).toEqual({ op: call.op, mode, status: 200, body: undefined });
        expect(res.headers['x-request-id']).toBeTruthy();
        if (call.op === 'face_add') faceId = ((res.json.faces as Array<{ face_id: string }>)[0]).face_id;
        seen.push(call.op);
      }
    }
    const after = await scrape(stack.meterUrl);
    const ops = [...new Set(seen)];
    expect(ops).toHaveLength(15);
    for (const op of ops) {
      const match = { app: 'test-app', operation: op, code: '200', error_code: 'none' };
      expect({ op, n: sum(after, 'frs_requests_total', match) - sum(before, 'frs_requests_total', match) }).toEqual({ op, n: 2 });
      const attempts = { operation: op, outcome: 'success' };
      expect({ op, n: sum(after, 'frs_upstream_attempts_total', attempts) - sum(before, 'frs_upstream_attempts_total', attempts) }).toEqual({ op, n: 2 });
    }
    // The emulator served exactly what the proxy says it sent, one for one: every upstream
    // attempt (a throttled live_detect retried after backoff included) is in the ledger.
    const ledger = stack.emulator.ledger();
    expect(ledger.filter((e) => e.status === 200).map((e) => e.operation).sort()).toEqual([...seen].sort());
    for (const op of ops) {
      const attempts = sum(after, 'frs_upstream_attempts_total', { operation: op }) - sum(before, 'frs_upstream_attempts_total', { operation: op });
      expect({ op, attempts }).toEqual({ op, attempts: ledger.filter((e) => e.operation === op).length });
    }
    expect(ledger.every((e) => e.projectId === stack.projectId)).toBe(true);
    // Billable operations are counted as billable calls for the app, non-billable ones are not.
    const billable = (op: string) => sum(after, 'frs_billable_calls_total', { app: 'test-app', operation: op }) - sum(before, 'frs_billable_calls_total', { app: 'test-app', operation: op });
    expect(billable('face_detect')).toBe(2);
    expect(billable('face_batch_delete')).toBe(2);
    expect(billable('face_list')).toBe(0);
  });

  it('delivers a 200 KB base64 image body byte-identical to the upstream', async () => {
    stack.emulator.clearLedger();
    const body = JSON.stringify({ image_base64: IMAGE });
    expect(body.length).toBeGreaterThan(200 * 1024);
    const res = await request(`${stack.meterUrl}${pathFor('face_detect', stack.projectId)}`, {
      method: 'POST',
      headers: { 'x-auth-token': stack.apiKey, 'content-type': 'application/json' },
      body,
    });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    const [entry] = stack.emulator.ledger();
    expect(entry.bodySha256).toBe(createHash('sha256').update(body).digest('hex'));
  });

  it('answers 401 METER.0401 to missing or wrong credentials and never calls upstream', async () => {
    stack.emulator.clearLedger();
    const path = `${stack.meterUrl}${pathFor('face_detect', stack.projectId)}`;
    const body = JSON.stringify({ image_base64: IMAGE });
    const attempts = [
      {},
      { 'x-auth-token': 'frsm_not-a-real-key' },
      { authorization: 'SDK-HMAC-SHA256 Access=NOPE, SignedHeaders=host;x-sdk-date, Signature=00', 'x-sdk-date': '20260101T000000Z' },
    ];
    const before = await scrape(stack.meterUrl);
    for (const headers of attempts) {
      const res = await request(path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
      expect(res.statusCode).toBe(401);
      expect(await res.body.json()).toEqual({ error_code: 'METER.0401', error_msg: expect.stringContaining('credentials') });
    }
    // A signature by a real app key but over a different body is refused too.
    const credential = { getAk: () => stack.app.access_key, getSk: () => stack.app.secret_key } as unknown as Parameters<typeof AKSKSigner.sign>[1];
    const signed = AKSKSigner.sign({ endpoint: path, method: 'POST', headers: { 'Content-Type': 'application/json' }, data: { image_base64: 'other' } }, credential) as Record<string, string>;
    const tampered = await request(path, { method: 'POST', headers: signed, body });
    expect(tampered.statusCode).toBe(401);
    await tampered.body.dump();

    expect(stack.emulator.ledger()).toEqual([]);
    const after = await scrape(stack.meterUrl);
    const m = { app: 'unauthenticated', operation: 'face_detect', code: '401', error_code: 'METER.0401' };
    expect(sum(after, 'frs_requests_total', m) - sum(before, 'frs_requests_total', m)).toBe(4);
  });

  it('passes FRS.0033 throttling through as 429, in the answer and in the metrics', async () => {
    stack.emulator.clearLedger();
    stack.emulator.setQps({ face_compare: 2 });
    try {
      const before = await scrape(stack.meterUrl);
      const call: Call = { op: 'face_compare', method: 'POST', path: pathFor('face_compare', stack.projectId), body: { image1_base64: 'aGk=', image2_base64: 'aGk=' } };
      const results = await Promise.all(Array.from({ length: 20 }, () => callWithKey(stack, stack.apiKey, call)));
      const throttled = results.filter((r) => r.status === 429);
      expect(throttled.length).toBeGreaterThan(0);
      for (const r of throttled) expect(r.json.error_code).toBe('FRS.0033');
      const after = await scrape(stack.meterUrl);
      const m = { app: 'test-app', operation: 'face_compare', code: '429', error_code: 'FRS.0033' };
      expect(sum(after, 'frs_requests_total', m) - sum(before, 'frs_requests_total', m)).toBe(throttled.length);
      const upstreamThrottles = stack.emulator.ledger().filter((e) => e.errorCode === 'FRS.0033').length;
      const t = { operation: 'face_compare', outcome: 'throttled' };
      expect(sum(after, 'frs_upstream_attempts_total', t) - sum(before, 'frs_upstream_attempts_total', t)).toBe(upstreamThrottles);
    } finally {
      stack.emulator.setQps({ face_compare: 10 });
    }
  });

  it('refuses a body over the FRS limit with 413 METER.0413 without calling upstream', async () => {
    stack.emulator.clearLedger();
    const big = Buffer.alloc(9 * 1024 * 1024, 65);
    const res = await request(`${stack.meterUrl}${pathFor('face_detect', stack.projectId)}`, {
      method: 'POST',
      headers: { 'x-auth-token': stack.apiKey, 'content-type': 'application/json' },
      body: big,
    });
    expect(res.statusCode).toBe(413);
    expect(await res.body.json()).toEqual({ error_code: 'METER.0413', error_msg: expect.stringContaining('limit') });
    expect(stack.emulator.ledger()).toEqual([]);
  });

  it('answers unknown paths under /v1 and /v2 by forwarding them as `unknown`', async () => {
    stack.emulator.clearLedger();
    const res = await request(`${stack.meterUrl}/v2/${stack.projectId}/no-such-api`, { headers: { 'x-auth-token': stack.apiKey } });
    expect(res.statusCode).toBe(404);
    expect(((await res.body.json()) as { error_code: string }).error_code).toBe('APIG.0101');
    expect(stack.emulator.ledger().map((e) => e.operation)).toEqual(['unknown']);
  });
});
