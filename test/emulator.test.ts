// The bundled emulator over real HTTP: every operation's answer, FRS's error codes, IAM tokens,
// AK/SK checks, faults and the ledger. Latency is scaled to 0 except where it is the subject.

import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { request } from 'undici';
import { AKSKSigner } from '@huaweicloud/huaweicloud-sdk-core/auth/AKSKSigner';
import { KNOWN_OPERATIONS, OPERATION_NAMES, OperationName, pathFor } from '../src/frs/operations';
import { sha256Hex, signRequest } from '../src/frs/signer';
import { AKSK_BODY_LIMIT, EmulatorPlugin, FRS_BODY_LIMIT, RunningEmulator, startEmulator } from '../src/emulator/emulator';

const AK = 'EMUTESTAK00000000001';
const SK = 'emulator-test-secret-key-0000000000000001';
const USER = { domainName: 'test-domain', username: 'test-user', password: 'test-password-1' };
const PROJECT = '0123456789abcdef0123456789abcdef';
const IMAGE = Buffer.from('not really a jpeg, but base64 all the same').toString('base64');

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: Record<string, unknown>;
}

let em: RunningEmulator;
let token: string;

async function send(method: string, path: string, opts: { body?: unknown; raw?: string | Buffer; headers?: Record<string, string>; auth?: 'token' | 'none' } = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...opts.headers };
  if ((opts.auth ?? 'token') === 'token') headers['x-auth-token'] = token;
  let body: string | Buffer | undefined = opts.raw;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] = 'application/json';
  }
  const res = await request(em.url + path, { method: method as 'GET', headers, body });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

/** Sends a request signed with our signer (host, content-type and the date are signed). */
async function sendSigned(method: string, path: string, body: string | Buffer, cred = { ak: AK, sk: SK }, extra: Record<string, string> = {}): Promise<Reply> {
  const headers: Record<string, string> = { host: new URL(em.url).host, 'content-type': 'application/json', ...extra };
  const [p, q] = path.split('?');
  Object.assign(headers, signRequest({ method, path: p, query: q, headers, bodySha256Hex: sha256Hex(body) }, cred));
  const res = await request(em.url + path, { method: method as 'POST', headers, body });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, json: JSON.parse(text) as Record<string, unknown> };
}

const frsPath = (op: Exclude<OperationName, 'unknown'>, set = 'lib') => pathFor(op, PROJECT, set);
const entries = () => em.ledger();

beforeAll(async () => {
  em = await startEmulator({
    credentials: [{ ak: AK, sk: SK }],
    iamUsers: [USER],
    tokenLifetimeSeconds: 5,
    latency: { latencyScale: 0 },
    seed: 7,
    log: () => undefined,
  });
  token = em.issueToken({ lifetimeSeconds: 3600 }).token;
});

afterAll(async () => {
  await em.close();
});

beforeEach(() => {
  em.setFaults({ errors: {}, stalls: {}, resets: {}, window: null, idleCloseSeconds: 300 });
  em.setQps(Object.fromEntries(OPERATION_NAMES.map((o) => [o, 10_000])));
  em.setClock(null);
  em.clearLedger();
});

describe('FRS operations', () => {
  it('answers every catalogue operation with its documented shape', async () => {
    const created = await send('POST', frsPath('face_set_create'), {
      body: { face_set_name: 'lib', face_set_capacity: 10000, external_fields: { age: { type: 'integer' } } },
    });
    expect(created.status).toBe(200);
    expect(created.headers['content-type']).toBe('application/json;charset=UTF-8');
    expect(created.json.face_set_info).toMatchObject({ face_set_name: 'lib', face_number: 0, face_set_capacity: 10000, external_fields: { age: { type: 'integer' } } });
    const setId = (created.json.face_set_info as { face_set_id: string }).face_set_id;
    expect(setId).toMatch(/^[A-Za-z]{8}$/);

    const list = await send('GET', frsPath('face_set_list'));
    expect((list.json.face_sets_info as unknown[]).length).toBe(1);

    const a = await send('POST', frsPath('face_add'), { body: { image_base64: IMAGE, external_image_id: 'alice', external_fields: { age: 31 } } });
    const b = await send('POST', frsPath('face_add'), { body: { image_base64: IMAGE + 'x', external_image_id: 'bob', external_fields: { age: 45 } } });
    expect(a.status).toBe(200);
    expect(a.json).toMatchObject({ face_set_id: setId, face_set_name: 'lib' });
    const [aliceFace] = a.json.faces as { face_id: string; external_image_id: string; bounding_box: Record<string, number> }[];
    expect(aliceFace.external_image_id).toBe('alice');
    expect(Object.keys(aliceFace.bounding_box).sort()).toEqual(['height', 'top_left_x', 'top_left_y', 'width']);
    const bobId = (b.json.faces as { face_id: string }[])[0].face_id;

    const show = await send('GET', frsPath('face_set_show'));
    expect(show.json.face_set_info).toMatchObject({ face_set_id: setId, face_number: 2 });

    const page = await send('GET', `${frsPath('face_list')}?offset=1&limit=5`);
    expect((page.json.faces as { face_id: string }[]).map((f) => f.face_id)).toEqual([bobId]);
    const one = await send('GET', `${frsPath('face_list')}?face_id=${aliceFace.face_id}`);
    expect((one.json.faces as { external_image_id: string }[])[0].external_image_id).toBe('alice');

    const search = await send('POST', frsPath('face_search'), { body: { face_id: aliceFace.face_id, top_n: 5 } });
    const hits = search.json.faces as { face_id: string; similarity: number; external_image_id: string }[];
    expect(hits[0]).toMatchObject({ face_id: aliceFace.face_id, similarity: 1, external_image_id: 'alice' });
    expect(hits).toHaveLength(2);
    const filtered = await send('POST', frsPath('face_search'), { body: { image_base64: IMAGE, filter: 'age:[40 TO *]' } });
    expect((filtered.json.faces as { face_id: string }[]).map((f) => f.face_id)).toEqual([bobId]);

    const updated = await send('PUT', frsPath('face_update'), { body: { face_id: bobId, external_image_id: 'robert' } });
    expect(updated.json).toEqual({ face_number: 1, face_set_id: setId, face_set_name: 'lib' });

    const detect = await send('POST', frsPath('face_detect'), { body: { image_base64: IMAGE, attributes: '2,12,13' } });
    const again = await send('POST', frsPath('face_detect'), { body: { image_base64: IMAGE, attributes: '2,12,13' } });
    expect(detect.json).toEqual(again.json); // derived from the body hash
    const face = (detect.json.faces as { bounding_box: unknown; attributes: Record<string, unknown> }[])[0];
    expect(Object.keys(face.attributes).sort()).toEqual(['age', 'expression', 'quality']);

    const same = await send('POST', frsPath('face_compare'), { body: { image1_base64: IMAGE, image2_base64: IMAGE } });
    expect(same.json.similarity).toBe(1);
    const diff = await send('POST', frsPath('face_compare'), { body: { image1_base64: IMAGE, image2_url: '/bucket/b.jpg' } });
    expect(diff.json.similarity).toBeGreaterThanOrEqual(0.05);
    expect(diff.json.similarity).toBeLessThan(0.95);
    expect(Object.keys(diff.json).sort()).toEqual(['image1_face', 'image2_face', 'similarity']);

    const live = await send('POST', pathFor('live_detect', PROJECT), { body: { video_base64: IMAGE, actions: '1,3' } });
    expect(Object.keys(live.json).sort()).toEqual(['video-result', 'warning-list']);
    expect((live.json['video-result'] as { actions: { action: number }[] }).actions.map((x) => x.action)).toEqual([1, 3]);
    const liveV2 = await send('POST', pathFor('live_detect', PROJECT, 'lib', 'v2'), { body: { video_url: '/bucket/v.mp4', actions: '2' } });
    expect(liveV2.status).toBe(200);

    const silent = await send('POST', pathFor('live_detect_face', PROJECT), { body: { image_base64: IMAGE } });
    expect(Object.keys(silent.json).sort()).toEqual(['result', 'warning-list']);
    expect(Object.keys(silent.json.result as object).sort()).toEqual(['alive', 'confidence', 'picture']);

    const sub = await send('GET', pathFor('subscribe_status', PROJECT));
    expect((sub.json.detect_service as { subscribe_status: boolean }).subscribe_status).toBe(true);

    const deleted = await send('DELETE', `${frsPath('face_delete')}?face_id=${aliceFace.face_id}`);
    expect(deleted.json).toEqual({ face_number: 1, face_set_id: setId, face_set_name: 'lib' });
    await send('POST', frsPath('face_add'), { body: { image_base64: IMAGE, external_fields: { age: 20 } } });
    const batch = await send('DELETE', frsPath('face_batch_delete'), { body: { filter: 'age:[* TO 50]' } });
    expect(batch.json).toEqual({ face_number: 2, face_set_id: setId, face_set_name: 'lib' });

    const dropped = await send('DELETE', frsPath('face_set_delete'));
    expect(dropped.json).toEqual({ face_set_name: 'lib' });
    expect((await send('GET', frsPath('face_set_show'))).json.error_code).toBe('FRS.0302');

    const ledger = entries();
    expect(new Set(ledger.map((e) => e.operation))).toEqual(new Set(KNOWN_OPERATIONS.map((o) => o.name)));
    expect(ledger.every((e) => e.projectId === PROJECT && e.token === 'token' && e.accessKey === undefined)).toBe(true);
  });

  it('answers paths outside the catalogue with 404 APIG.0101, and ledgers them as unknown', async () => {
    const v1Detect = await send('POST', `/v1/${PROJECT}/face-detect`, { body: { image_base64: IMAGE } });
    expect(v1Detect.status).toBe(404);
    expect(v1Detect.json).toMatchObject({ error_code: 'APIG.0101' });
    expect((await send('GET', `/v2/${PROJECT}/nope`)).json.error_code).toBe('APIG.0101');
    expect(entries().map((e) => [e.operation, e.status, e.errorCode])).toEqual([
      ['unknown', 404, 'APIG.0101'],
      ['unknown', 404, 'APIG.0101'],
    ]);
    expect((await send('GET', '/elsewhere')).status).toBe(404);
    expect(entries()).toHaveLength(2); // not an FRS path: not in the ledger
  });

  it('echoes X-Request-Id, or makes one up', async () => {
    const echoed = await send('GET', frsPath('face_set_list'), { headers: { 'x-request-id': 'req-123' } });
    expect(echoed.headers['x-request-id']).toBe('req-123');
    const made = await send('GET', frsPath('face_set_list'));
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
    expect(entries().map((e) => e.requestId)).toEqual(['req-123', made.headers['x-request-id']]);
  });
});

describe('request checks', () => {
  it('uses FRS codes for bad bodies and unknown sets and faces', async () => {
    const notJson = await send('POST', frsPath('face_detect'), { raw: '{"image_base64": ', headers: { 'content-type': 'application/json' } });
    expect(notJson.status).toBe(400);
    expect(notJson.json).toEqual({ error_code: 'FRS.0014', error_msg: 'The JSON format of the input data is incorrect.' });

    const noImage = await send('POST', frsPath('face_detect'), { body: { attributes: '2' } });
    expect(noImage.status).toBe(400);
    expect(noImage.json.error_code).toBe('FRS.0011');
    expect(noImage.json.error_msg).toContain('image_base64|image_url|image_file');
    expect((await send('POST', frsPath('face_compare'), { body: { image1_base64: IMAGE } })).json.error_msg).toContain('image2_base64');
    expect((await send('POST', pathFor('live_detect', PROJECT), { body: { image_base64: IMAGE, actions: '1' } })).json.error_code).toBe('FRS.0011');
    expect((await send('POST', pathFor('live_detect_face', PROJECT), { body: { video_base64: IMAGE } })).json.error_code).toBe('FRS.0011');

    const noSet = await send('POST', frsPath('face_search', 'ghost'), { body: { image_base64: IMAGE } });
    expect([noSet.status, noSet.json.error_code]).toEqual([400, 'FRS.0302']);
    await send('POST', frsPath('face_set_create'), { body: { face_set_name: 'dup' } });
    const dup = await send('POST', frsPath('face_set_create'), { body: { face_set_name: 'dup' } });
    expect([dup.status, dup.json.error_code]).toEqual([400, 'FRS.0301']);
    const noFace = await send('POST', frsPath('face_search', 'dup'), { body: { face_id: 'zzzzzzzz' } });
    expect([noFace.status, noFace.json.error_code]).toEqual([400, 'FRS.0403']);
    expect((await send('DELETE', `${frsPath('face_delete', 'dup')}?face_id=zzzzzzzz`)).json.error_code).toBe('FRS.0403');
    await send('DELETE', frsPath('face_set_delete', 'dup'));

    expect(entries().map((e) => e.errorCode)).toEqual(['FRS.0014', 'FRS.0011', 'FRS.0011', 'FRS.0011', 'FRS.0011', 'FRS.0302', undefined, 'FRS.0301', 'FRS.0403', 'FRS.0403', undefined]);
  });

  it('refuses bodies over 8 MB with FRS.0017, and AK/SK-signed bodies over 12 MB with 413 APIG.0201', async () => {
    const big = Buffer.alloc(FRS_BODY_LIMIT + 1, 'a');
    const tooBig = await send('POST', frsPath('face_detect'), { raw: big, headers: { 'content-type': 'application/json' } });
    expect([tooBig.status, tooBig.json.error_code]).toEqual([400, 'FRS.0017']);
    const atLimit = await sendSigned('POST', frsPath('face_detect'), Buffer.alloc(AKSK_BODY_LIMIT, 'a'));
    expect([atLimit.status, atLimit.json.error_code]).toEqual([400, 'FRS.0017']);
    const huge = Buffer.alloc(AKSK_BODY_LIMIT + 1, 'a');
    const overGateway = await sendSigned('POST', frsPath('face_detect'), huge);
    expect([overGateway.status, overGateway.json.error_code]).toEqual([413, 'APIG.0201']);
    expect(entries().map((e) => [e.status, e.errorCode, e.bodySha256])).toEqual([
      [400, 'FRS.0017', sha256Hex(big)],
      [400, 'FRS.0017', sha256Hex(Buffer.alloc(AKSK_BODY_LIMIT, 'a'))],
      [413, 'APIG.0201', sha256Hex(huge)],
    ]);
  });

  it('throttles each operation to its QPS in a sliding second with 429 FRS.0033', async () => {
    // Accepted calls of earlier tests are still in the sliding window: let it empty first.
    await new Promise((r) => setTimeout(r, 1050));
    em.setQps({ face_detect: 3 });
    const burst = await Promise.all(Array.from({ length: 5 }, () => send('POST', frsPath('face_detect'), { body: { image_base64: IMAGE } })));
    expect(burst.map((r) => r.status).sort()).toEqual([200, 200, 200, 429, 429]);
    const throttled = burst.find((r) => r.status === 429);
    expect(Object.keys(throttled?.json ?? {}).sort()).toEqual(['error_code', 'error_msg']);
    expect(throttled?.json.error_code).toBe('FRS.0033');
    // Other operations have their own window.
    expect((await send('GET', frsPath('face_set_list'))).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1050));
    expect((await send('POST', frsPath('face_detect'), { body: { image_base64: IMAGE } })).status).toBe(200);
    expect(entries().filter((e) => e.errorCode === 'FRS.0033')).toHaveLength(2);

    // At run time through the control endpoint too.
    const put = await request(`${em.url}/__emulator/qps`, { method: 'PUT', body: JSON.stringify({ face_detect: 0 }) });
    expect(((await put.body.json()) as Record<string, number>).face_detect).toBe(0);
    expect((await send('POST', frsPath('face_detect'), { body: { image_base64: IMAGE } })).status).toBe(429);
  });
});

describe('IAM and authentication', () => {
  const tokenBody = (password: string, scope: unknown = { project: { name: 'cn-north-4' } }) => ({
    auth: { identity: { methods: ['password'], password: { user: { name: USER.username, password, domain: { name: USER.domainName } } } }, scope },
  });

  it('issues tokens that expire on the emulator clock', async () => {
    let now = Date.parse('2025-01-31T16:00:00Z');
    const iam = await startEmulator({ iamUsers: [USER], tokenLifetimeSeconds: 5, latency: { latencyScale: 0 }, now: () => new Date(now) });
    try {
      const res = await request(`${iam.url}/v3/auth/tokens`, { method: 'POST', headers: { 'content-type': 'application/json;charset=utf8' }, body: JSON.stringify(tokenBody(USER.password)) });
      expect(res.statusCode).toBe(201);
      const issued = res.headers['x-subject-token'] as string;
      expect(issued.length).toBeGreaterThan(1000);
      const body = (await res.body.json()) as { token: Record<string, unknown> };
      expect(body.token).toMatchObject({
        issued_at: '2025-01-31T16:00:00.000000Z',
        expires_at: '2025-01-31T16:00:05.000000Z',
        methods: ['password'],
        project: { name: 'cn-north-4' },
      });
      const call = async () => {
        const r = await request(`${iam.url}${frsPath('face_set_list')}`, { headers: { 'x-auth-token': issued } });
        return { status: r.statusCode, json: (await r.body.json()) as Record<string, string> };
      };
      now += 4_999;
      expect((await call()).status).toBe(200);
      now += 1;
      const expired = await call();
      expect(expired.status).toBe(401);
      expect(expired.json.error_code).toBe('APIG.0301');
      expect(expired.json.error_msg).toContain('expired');
      expect(iam.ledger().map((e) => [e.status, e.errorCode, e.token])).toEqual([
        [200, undefined, 'token'],
        [401, 'APIG.0301', undefined],
      ]);
      expect(JSON.stringify(iam.ledger())).not.toContain(issued.slice(0, 40));

      const wrong = await request(`${iam.url}/v3/auth/tokens`, { method: 'POST', body: JSON.stringify(tokenBody('nope')) });
      expect(wrong.statusCode).toBe(401);
      expect(wrong.headers['x-subject-token']).toBeUndefined();
      expect(await wrong.body.json()).toEqual({ error: { code: 401, title: 'Unauthorized', message: 'The username or password is wrong.' } });

      const domainScoped = await request(`${iam.url}/v3/auth/tokens?nocatalog=true`, { method: 'POST', body: JSON.stringify(tokenBody(USER.password, { domain: { name: USER.domainName } })) });
      const scoped = (await domainScoped.body.json()) as { token: Record<string, unknown> };
      expect(scoped.token.domain).toMatchObject({ name: USER.domainName });
      expect(scoped.token.catalog).toBeUndefined();
    } finally {
      await iam.close();
    }
  });

  it('moves the clock through PUT /__emulator/clock', async () => {
    const short = em.issueToken().token; // the configured 5 s lifetime
    const put = async (body: unknown) => (await request(`${em.url}/__emulator/clock`, { method: 'PUT', body: JSON.stringify(body) })).body.json() as Promise<{ now: string }>;
    await put({ offset_ms: 6000 });
    const r = await request(em.url + frsPath('face_set_list'), { headers: { 'x-auth-token': short } });
    expect([r.statusCode, ((await r.body.json()) as { error_msg: string }).error_msg]).toEqual([401, 'Incorrect IAM authentication information: the token has expired']);
    expect(await put({ now: '2030-01-01T00:00:00Z' })).toEqual({ now: '2030-01-01T00:00:00.000Z' });
    expect(entries().length).toBe(1);
    expect((await send('GET', frsPath('face_set_list'))).status).toBe(401); // the long token is an hour old by 2030
    expect(entries()[1].time).toBe('2030-01-01T00:00:00.000Z');
    await put({});
    expect((await send('GET', frsPath('face_set_list'))).status).toBe(200);
  });

  it('rejects missing and unknown credentials with 401 APIG.0301', async () => {
    const none = await send('GET', frsPath('face_set_list'), { auth: 'none' });
    expect([none.status, none.json.error_code]).toEqual([401, 'APIG.0301']);
    expect(none.json.request_id).toBe(none.headers['x-request-id']);
    const bogus = await send('GET', frsPath('face_set_list'), { auth: 'none', headers: { 'x-auth-token': 'MIIbogus' } });
    expect([bogus.status, bogus.json.error_code, bogus.json.error_msg]).toEqual([401, 'APIG.0301', 'Incorrect IAM authentication information: the token is not valid']);
  });

  it('accepts AK/SK signed by the official SDK and by our signer; rejects bad signatures and skew', async () => {
    const body = { image_base64: IMAGE };
    const credential = { getAk: () => AK, getSk: () => SK } as unknown as Parameters<typeof AKSKSigner.sign>[1];
    const path = frsPath('face_detect');
    const official = AKSKSigner.sign(
      { endpoint: em.url + path, method: 'POST', headers: { 'content-type': 'application/json', host: new URL(em.url).host, 'X-Project-Id': PROJECT }, data: body },
      credential,
    ) as Record<string, string>;
    const viaSdk = await request(em.url + path, { method: 'POST', headers: official, body: JSON.stringify(body) });
    expect(viaSdk.statusCode).toBe(200);
    await viaSdk.body.dump();

    const ours = await sendSigned('GET', `${frsPath('face_list', 'nosuch')}?offset=0&limit=5`, '');
    expect(ours.json.error_code).toBe('FRS.0302'); // past authentication
    const badKey = await sendSigned('POST', path, JSON.stringify(body), { ak: AK, sk: 'wrong' });
    expect([badKey.status, badKey.json.error_code]).toEqual([401, 'APIG.0301']);
    const unknownAk = await sendSigned('POST', path, JSON.stringify(body), { ak: 'OTHER', sk: SK });
    expect(unknownAk.json.error_msg).toBe('Incorrect IAM authentication information: unknown access key');

    // A body that differs from the one signed.
    const headers: Record<string, string> = { host: new URL(em.url).host, 'content-type': 'application/json' };
    Object.assign(headers, signRequest({ method: 'POST', path, headers, body: JSON.stringify(body) }, { ak: AK, sk: SK }));
    const tampered = await request(em.url + path, { method: 'POST', headers, body: JSON.stringify({ image_base64: IMAGE + 'AA' }) });
    expect(tampered.statusCode).toBe(401);
    await tampered.body.dump();

    em.setClock({ offsetMs: 16 * 60_000 });
    const skewed = await sendSigned('POST', path, JSON.stringify(body));
    expect([skewed.status, skewed.json.error_code]).toEqual([401, 'APIGW.0303']);

    expect(entries().map((e) => [e.status, e.accessKey])).toEqual([
      [200, AK],
      [400, AK],
      [401, undefined],
      [401, undefined],
      [401, undefined],
      [401, undefined],
    ]);
  });
});

describe('faults', () => {
  const detect = () => send('POST', frsPath('face_detect'), { body: { image_base64: IMAGE } });

  it('injects error codes per operation and for all, at rate 1.0, with the catalogue status', async () => {
    em.setFaults({ errors: { face_detect: { 'FRS.0018': 1 } } });
    const r = await detect();
    expect([r.status, r.json.error_code]).toEqual([500, 'FRS.0018']);
    expect((await send('GET', frsPath('face_set_list'))).status).toBe(200);

    const put = await request(`${em.url}/__emulator/faults`, { method: 'PUT', body: JSON.stringify({ errors: { '*': { 'APIG.0201': 1 } } }) });
    expect(((await put.body.json()) as { errors: unknown }).errors).toEqual({ '*': { 'APIG.0201': 1 } });
    expect((await send('GET', frsPath('face_set_list'))).status).toBe(504);
    const got = await request(`${em.url}/__emulator/faults`);
    expect(((await got.body.json()) as { idleCloseSeconds: number }).idleCloseSeconds).toBe(300); // untouched by the partial PUT

    const bad = await request(`${em.url}/__emulator/faults`, { method: 'PUT', body: JSON.stringify({ errors: { face_detect: { 'FRS.0018': 2 } } }) });
    expect(bad.statusCode).toBe(400);
    expect(((await bad.body.json()) as { error_msg: string }).error_msg).toContain('faults.errors.face_detect.FRS.0018 must be a number from 0 to 1');

    em.setFaults({ errors: { face_detect: { 'FRS.0018': 1 } }, window: { from: new Date(Date.now() + 60_000).toISOString() } });
    expect((await detect()).status).toBe(200); // outside the window

    expect(entries().map((e) => [e.operation, e.status, e.errorCode])).toEqual([
      ['face_detect', 500, 'FRS.0018'],
      ['face_set_list', 200, undefined],
      ['face_set_list', 504, 'APIG.0201'],
      ['face_detect', 200, undefined],
    ]);
  });

  it('stalls a call N seconds, then answers it normally and records it once', async () => {
    em.setFaults({ stalls: { face_detect: { fraction: 1, seconds: 0.3 } } });
    const t0 = performance.now();
    const r = await detect();
    const elapsed = performance.now() - t0;
    expect(r.status).toBe(200);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(1500);
    expect((await send('GET', frsPath('face_set_list'))).status).toBe(200); // other operations unaffected

    // A client that gives up: the call is still recorded once, when the emulator answers.
    await expect(
      request(em.url + frsPath('face_detect'), { method: 'POST', headers: { 'x-auth-token': token, 'content-type': 'application/json' }, body: JSON.stringify({ image_base64: IMAGE }), signal: AbortSignal.timeout(100) }),
    ).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(entries()).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 400));
    expect(entries().map((e) => [e.operation, e.status])).toEqual([
      ['face_detect', 200],
      ['face_set_list', 200],
      ['face_detect', 200],
    ]);
  });

  it('resets connections without an answer and records status 0', async () => {
    em.setFaults({ resets: 1 });
    await expect(detect()).rejects.toMatchObject({ code: expect.stringMatching(/^(UND_ERR_SOCKET|ECONNRESET)$/) });
    expect(entries().map((e) => [e.operation, e.status, e.errorCode])).toEqual([['face_detect', 0, undefined]]);
  });

  /** Opens a raw keep-alive connection, makes one request, and resolves with how long the server kept it idle. */
  async function idleLifetime(afterAnswer?: () => unknown): Promise<number> {
    const socket = net.connect(em.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('GET /__emulator/ HTTP/1.1\r\nHost: emulator\r\n\r\n');
    return new Promise((resolve, reject) => {
      let answeredAt = 0;
      let text = '';
      socket.on('data', (d: Buffer) => {
        text += d.toString();
        if (!answeredAt && text.endsWith('}')) {
          answeredAt = performance.now();
          afterAnswer?.();
        }
      });
      socket.on('error', reject);
      socket.on('close', () => (answeredAt ? resolve(performance.now() - answeredAt) : reject(new Error('closed before the answer'))));
    });
  }

  it('closes idle keep-alive connections after idleCloseSeconds, applied at run time', async () => {
    em.setFaults({ idleCloseSeconds: 0.3 });
    const idle = await idleLifetime();
    expect(idle).toBeGreaterThanOrEqual(250);
    expect(idle).toBeLessThan(1000);

    // A connection already idle under a long timeout is cut once the setting shrinks; idle
    // time counts from its last answer, so it closes 0.2 s after that, not after the change.
    em.setFaults({ idleCloseSeconds: 30 });
    const rearmed = await idleLifetime(() => setTimeout(() => em.setFaults({ idleCloseSeconds: 0.2 }), 100));
    expect(rearmed).toBeGreaterThanOrEqual(180);
    expect(rearmed).toBeLessThan(1000);
  });

  it('adds modelled latency scaled by latencyScale', async () => {
    em.setLatency({ latencyScale: 1, operations: { face_set_list: { medianMs: 200, p99Ms: 200 } } });
    try {
      const t0 = performance.now();
      expect((await send('GET', frsPath('face_set_list'))).status).toBe(200);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(190);
    } finally {
      em.setLatency({ latencyScale: 0 });
    }
    const bad = await request(`${em.url}/__emulator/latency`, { method: 'PUT', body: JSON.stringify({ operations: { face_detect: { medianMs: 300, p99Ms: 100 } } }) });
    expect(bad.statusCode).toBe(400);
    await bad.body.dump();
  });
});

describe('ledger', () => {
  it('keeps the SHA-256 of each body, never the body or the token, with consecutive seq', async () => {
    const image = randomBytes(150_000).toString('base64');
    const sent = JSON.stringify({ image_base64: image });
    expect(sent.length).toBeGreaterThan(200_000);
    await send('POST', frsPath('face_detect'), { raw: sent, headers: { 'content-type': 'application/json' } });
    await send('GET', frsPath('face_set_list'));
    await sendSigned('POST', frsPath('face_detect'), sent);

    const all = entries();
    expect(all).toHaveLength(3);
    expect(all[0].bodySha256).toBe(createHash('sha256').update(sent).digest('hex'));
    expect(all[1].bodySha256).toBe(sha256Hex(''));
    expect(all[2]).toMatchObject({ accessKey: AK, bodySha256: all[0].bodySha256, status: 200, operation: 'face_detect', method: 'POST', path: frsPath('face_detect') });
    expect(all[1].seq).toBe(all[0].seq + 1);
    expect(all[2].seq).toBe(all[1].seq + 1);
    const text = JSON.stringify(all);
    expect(text).not.toContain(image.slice(0, 64));
    expect(text).not.toContain(token.slice(0, 64));
    expect(text).not.toContain(SK);

    const since = await request(`${em.url}/__emulator/ledger?since=${all[0].seq}`);
    expect(((await since.body.json()) as { entries: { seq: number }[] }).entries.map((e) => e.seq)).toEqual([all[1].seq, all[2].seq]);
    const cleared = await request(`${em.url}/__emulator/ledger`, { method: 'DELETE' });
    await cleared.body.dump();
    expect(entries()).toEqual([]);
    await send('GET', frsPath('face_set_list'));
    expect(entries()[0].seq).toBe(all[2].seq + 1); // seq survives a clear
  });
});

describe('plugins', () => {
  it('sees requests first, can reuse the FRS auth check, and stays out of the ledger', async () => {
    const plugin: EmulatorPlugin = {
      name: 'ping',
      async handle(req, res, body, ctx) {
        if (!req.url?.startsWith('/v2/bills/')) return false;
        const auth = ctx.verifyAuth(req, body);
        if (!auth.ok) ctx.sendError(res, auth.status, auth.code, auth.message);
        else ctx.sendJson(res, 200, { method: auth.method, ledger: ctx.ledger().length, bytes: body.length });
        return true;
      },
    };
    const withPlugin = await startEmulator({ credentials: [{ ak: AK, sk: SK }], latency: { latencyScale: 0 }, plugins: [plugin] });
    try {
      const t = withPlugin.issueToken().token;
      const ok = await request(`${withPlugin.url}/v2/bills/ping`, { method: 'POST', headers: { 'x-auth-token': t }, body: 'abc' });
      expect(ok.statusCode).toBe(200);
      expect(ok.headers['x-request-id']).toBeDefined();
      expect(await ok.body.json()).toEqual({ method: 'token', ledger: 0, bytes: 3 });
      const denied = await request(`${withPlugin.url}/v2/bills/ping`);
      expect(denied.statusCode).toBe(401);
      expect(((await denied.body.json()) as { error_code: string }).error_code).toBe('APIG.0301');
      expect(withPlugin.ledger()).toEqual([]);
    } finally {
      await withPlugin.close();
    }
  });
});
