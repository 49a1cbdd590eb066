import { AKSKSigner } from '@huaweicloud/huaweicloud-sdk-core/auth/AKSKSigner';
import {
  EMPTY_BODY_SHA256,
  SignableRequest,
  canonicalRequest,
  parseAuthorization,
  sdkDate,
  sha256Hex,
  signRequest,
  verifySignature,
} from './signer';

const AK = 'HPUAEXAMPLEAK0000001';
const SK = 'exampleSecretKey0123456789abcdefghijklmn';
const NOW = new Date('2024-03-05T06:07:08.999Z');
const DATE = '20240305T060708Z';
const HOST = 'face.cn-north-4.myhuaweicloud.com';

/** Signs with the official Node SDK signer, the way HcClient calls it. */
function officialSign(opts: {
  method: string;
  path: string;
  queryParams?: Record<string, string | string[]>;
  headers: Record<string, string>;
  data?: unknown;
}): Record<string, string> {
  const credential = { getAk: () => AK, getSk: () => SK } as unknown as Parameters<typeof AKSKSigner.sign>[1];
  return AKSKSigner.sign(
    {
      endpoint: `https://${HOST}${opts.path}`,
      method: opts.method,
      headers: { ...opts.headers, 'X-Sdk-Date': DATE },
      queryParams: opts.queryParams ? structuredClone(opts.queryParams) : undefined,
      data: opts.data,
    },
    credential,
  ) as Record<string, string>;
}

interface Case {
  name: string;
  method: string;
  /** Path given to the SDK (it takes raw text). */
  sdkPath: string;
  /** Path given to ours, as a client would put it on the wire. */
  wirePath: string;
  queryParams?: Record<string, string | string[]>;
  wireQuery?: string;
  headers: Record<string, string>;
  data?: Record<string, unknown>;
}

const json = { 'content-type': 'application/json' };

const cases: Case[] = [
  { name: 'GET, no query, no body', method: 'GET', sdkPath: '/v2/pid/face-sets', wirePath: '/v2/pid/face-sets', headers: { ...json } },
  {
    name: 'GET with repeated keys, out of order',
    method: 'GET',
    sdkPath: '/v2/pid/face-sets/lib/faces',
    wirePath: '/v2/pid/face-sets/lib/faces',
    queryParams: { tag: ['b', 'a', 'c'], offset: '0', limit: '5' },
    wireQuery: 'tag=b&limit=5&tag=a&offset=0&tag=c',
    headers: { ...json },
  },
  {
    name: 'unicode, spaces and empty values in the query (spaces as %20)',
    method: 'GET',
    sdkPath: '/v2/pid/face-sets/lib/faces',
    wirePath: '/v2/pid/face-sets/lib/faces',
    queryParams: { name: '张 三', 'q e': 'x y', empty: '', odd: "a!b*c'(d)~-._/?&=+" },
    wireQuery: `name=${encodeURIComponent('张 三')}&q%20e=x%20y&empty=&odd=${encodeURIComponent("a!b*c'(d)~-._/?&=+")}`,
    headers: { ...json },
  },
  {
    name: 'spaces sent as + (axios, Go url.Values)',
    method: 'GET',
    sdkPath: '/v2/pid/face-sets/lib/faces',
    wirePath: '/v2/pid/face-sets/lib/faces',
    queryParams: { name: '张 三', 'q e': 'x y' },
    wireQuery: `name=${encodeURIComponent('张').replace(/%20/g, '+')}+${encodeURIComponent('三')}&q+e=x+y`,
    headers: { ...json },
  },
  {
    name: 'key without value',
    method: 'GET',
    sdkPath: '/v2/pid/face-sets',
    wirePath: '/v2/pid/face-sets',
    queryParams: { nocatalog: '' },
    wireQuery: 'nocatalog',
    headers: { ...json },
  },
  {
    name: 'unicode path, raw on the SDK side, percent-encoded on the wire',
    method: 'GET',
    sdkPath: '/v2/pid/face-sets/人脸库-1/faces',
    wirePath: `/v2/pid/face-sets/${encodeURIComponent('人脸库-1')}/faces`,
    queryParams: { face_id: 'iexEBb6t' },
    wireQuery: 'face_id=iexEBb6t',
    headers: { ...json },
  },
  {
    name: 'POST with a JSON body and X-Project-Id',
    method: 'POST',
    sdkPath: '/v2/0123456789abcdef0123456789abcdef/face-detect',
    wirePath: '/v2/0123456789abcdef0123456789abcdef/face-detect',
    headers: { ...json, 'X-Project-Id': '0123456789abcdef0123456789abcdef' },
    data: { image_base64: Buffer.alloc(3000, 7).toString('base64'), attributes: '2,12,13' },
  },
  {
    name: 'POST with a unicode JSON body',
    method: 'POST',
    sdkPath: '/v2/pid/face-sets',
    wirePath: '/v2/pid/face-sets',
    headers: { ...json },
    data: { face_set_name: '员工库', external_fields: { name: { type: 'string' } } },
  },
  {
    name: 'DELETE with a query and no body',
    method: 'DELETE',
    sdkPath: '/v2/pid/face-sets/lib/faces',
    wirePath: '/v2/pid/face-sets/lib/faces',
    queryParams: { external_image_id: 'img 01' },
    wireQuery: 'external_image_id=img%2001',
    headers: { ...json },
  },
  {
    name: 'DELETE with a JSON body (batch delete)',
    method: 'DELETE',
    sdkPath: '/v2/pid/face-sets/lib/faces/batch',
    wirePath: '/v2/pid/face-sets/lib/faces/batch',
    headers: { ...json },
    data: { filter: 'age:[20 TO 30] && (!gender:male)' },
  },
  {
    name: 'multipart upload with UNSIGNED-PAYLOAD',
    method: 'POST',
    sdkPath: '/v2/pid/face-detect',
    wirePath: '/v2/pid/face-detect',
    headers: { 'X-Sdk-Content-Sha256': 'UNSIGNED-PAYLOAD' },
  },
];

describe('sdkDate and sha256Hex', () => {
  it('formats X-Sdk-Date in UTC without milliseconds', () => {
    expect(sdkDate(NOW)).toBe(DATE);
    expect(sdkDate(new Date('1999-12-31T23:59:59Z'))).toBe('19991231T235959Z');
  });

  it('hashes like sha256sum', () => {
    expect(sha256Hex('')).toBe(EMPTY_BODY_SHA256);
    expect(sha256Hex(Buffer.from('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('canonicalRequest', () => {
  it('builds the six lines exactly', () => {
    const req: SignableRequest = {
      method: 'get',
      path: '/v2/p id/face-sets/a(b)',
      query: 'b=2&a=&a=1&c',
      headers: { Host: ' example.com ', 'X-Sdk-Date': DATE },
    };
    expect(canonicalRequest(req, ['host', 'x-sdk-date'])).toBe(
      ['GET', '/v2/p%20id/face-sets/a%28b%29/', 'a=&a=1&b=2&c=', 'host:example.com', `x-sdk-date:${DATE}`, '', 'host;x-sdk-date', EMPTY_BODY_SHA256].join('\n'),
    );
  });

  it('takes the body hash from X-Sdk-Content-Sha256, then bodySha256Hex, then the body', () => {
    const base: SignableRequest = { method: 'POST', path: '/', headers: {}, body: 'x' };
    const last = (r: SignableRequest) => canonicalRequest(r, []).split('\n').pop();
    expect(last(base)).toBe(sha256Hex('x'));
    expect(last({ ...base, bodySha256Hex: 'abc' })).toBe('abc');
    expect(last({ ...base, bodySha256Hex: 'abc', headers: { 'X-Sdk-Content-Sha256': 'UNSIGNED-PAYLOAD' } })).toBe('UNSIGNED-PAYLOAD');
    expect(last({ method: 'GET', path: '/', headers: {} })).toBe(EMPTY_BODY_SHA256);
  });
});

describe('signRequest matches the official Node SDK signer', () => {
  it.each(cases)('$name', (c) => {
    const official = officialSign({ method: c.method, path: c.sdkPath, queryParams: c.queryParams, headers: { ...c.headers, host: HOST }, data: c.data });
    const body = c.data === undefined ? undefined : JSON.stringify(c.data);
    const ours = signRequest({ method: c.method, path: c.wirePath, query: c.wireQuery, headers: { ...c.headers, host: HOST }, body }, { ak: AK, sk: SK }, NOW);
    expect(ours['X-Sdk-Date']).toBe(DATE);
    expect(ours.Authorization).toBe(official.Authorization);
    // And the precomputed-hash path gives the same answer.
    const hashed = signRequest(
      { method: c.method, path: c.wirePath, query: c.wireQuery, headers: { ...c.headers, host: HOST }, bodySha256Hex: sha256Hex(body ?? '') },
      { ak: AK, sk: SK },
      NOW,
    );
    expect(hashed.Authorization).toBe(official.Authorization);
  });

  it('signs the headers the caller gave plus x-sdk-date, and never authorization', () => {
    const h = signRequest(
      { method: 'GET', path: '/v1/pid/subscribe', headers: { Host: HOST, 'Content-Type': 'application/json', 'X-Project-Id': 'pid', Authorization: 'old', 'X-Sdk-Date': 'stale' } },
      { ak: AK, sk: SK },
      NOW,
    );
    expect(parseAuthorization(h.Authorization)?.signedHeaders).toEqual(['content-type', 'host', 'x-project-id', 'x-sdk-date']);
  });

  it('refuses to sign without host', () => {
    expect(() => signRequest({ method: 'GET', path: '/', headers: {} }, { ak: AK, sk: SK }, NOW)).toThrow(/host/);
  });
});

describe('parseAuthorization', () => {
  it('reads the three fields', () => {
    expect(parseAuthorization(`SDK-HMAC-SHA256 Access=${AK}, SignedHeaders=host;x-sdk-date, Signature=ABCDEF`)).toEqual({
      access: AK,
      signedHeaders: ['host', 'x-sdk-date'],
      signature: 'abcdef',
    });
  });

  it.each([undefined, '', 'Bearer x', 'SDK-HMAC-SHA256 Access=a, Signature=b', 'SDK-HMAC-SHA256 Access=a, SignedHeaders=, Signature=b', 'SDK-HMAC-SHA256 garbage'])(
    'rejects %p',
    (v) => expect(parseAuthorization(v)).toBeUndefined(),
  );
});

describe('verifySignature', () => {
  const lookup = (ak: string) => (ak === AK ? SK : undefined);
  const body = JSON.stringify({ image_base64: 'aGVsbG8=' });
  const path = '/v2/pid/face-sets/lib/search';
  const query = 'x=1&y=2';

  /** A request as the server receives it: lower-case header names. */
  function received(now = NOW): SignableRequest {
    const headers = { host: HOST, 'content-type': 'application/json', 'x-project-id': 'pid' };
    const added = signRequest({ method: 'POST', path, query, headers, body }, { ak: AK, sk: SK }, now);
    return { method: 'POST', path, query, body, headers: { ...headers, 'x-sdk-date': added['X-Sdk-Date'], authorization: added.Authorization } };
  }

  it('accepts our own signature, by body or by precomputed hash', () => {
    expect(verifySignature(received(), lookup, NOW)).toEqual({ ok: true, accessKey: AK });
    const r = received();
    expect(verifySignature({ ...r, body: undefined, bodySha256Hex: sha256Hex(body) }, lookup, NOW)).toEqual({ ok: true, accessKey: AK });
  });

  it('accepts a request signed by the official SDK', () => {
    const headers = officialSign({ method: 'POST', path, queryParams: { y: '2', x: '1' }, headers: { host: HOST, 'content-type': 'application/json' }, data: JSON.parse(body) });
    const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
    expect(verifySignature({ method: 'POST', path, query, headers: lower, body }, lookup, NOW)).toEqual({ ok: true, accessKey: AK });
  });

  it.each([
    ['body', (r: SignableRequest) => ({ ...r, body: body.replace('aGVs', 'aGVt') })],
    ['query', (r: SignableRequest) => ({ ...r, query: 'x=1&y=3' })],
    ['path', (r: SignableRequest) => ({ ...r, path: '/v2/pid/face-sets/other/search' })],
    ['method', (r: SignableRequest) => ({ ...r, method: 'PUT' })],
    ['signed header', (r: SignableRequest) => ({ ...r, headers: { ...r.headers, 'x-project-id': 'other' } })],
    ['date', (r: SignableRequest) => ({ ...r, headers: { ...r.headers, 'x-sdk-date': '20240305T060709Z' } })],
  ])('rejects a tampered %s with APIG.0301', (_what, tamper) => {
    const result = verifySignature(tamper(received()), lookup, NOW);
    expect(result).toEqual({ ok: false, code: 'APIG.0301', reason: 'signature mismatch' });
  });

  it('rejects a missing signed header, an unknown key and a missing Authorization', () => {
    const r = received();
    const withoutProject = { ...r, headers: { ...r.headers } };
    delete (withoutProject.headers as Record<string, string>)['x-project-id'];
    expect(verifySignature(withoutProject, lookup, NOW)).toMatchObject({ ok: false, code: 'APIG.0301', reason: 'signed header x-project-id is missing' });
    expect(verifySignature(r, () => undefined, NOW)).toMatchObject({ ok: false, code: 'APIG.0301', reason: 'unknown access key' });
    expect(verifySignature({ ...r, headers: { host: HOST } }, lookup, NOW)).toMatchObject({ ok: false, code: 'APIG.0301' });
    expect(verifySignature({ ...r, headers: { ...r.headers, 'x-sdk-date': '2024-03-05T06:07:08Z' } }, lookup, NOW)).toMatchObject({
      ok: false,
      code: 'APIG.0301',
      reason: 'missing or malformed X-Sdk-Date header',
    });
  });

  it('rejects more than 15 minutes of skew either way with APIGW.0303, and accepts just under', () => {
    const r = received();
    const minutes = (m: number) => new Date(NOW.getTime() + m * 60_000);
    expect(verifySignature(r, lookup, minutes(16))).toMatchObject({ ok: false, code: 'APIGW.0303' });
    expect(verifySignature(r, lookup, minutes(-16))).toMatchObject({ ok: false, code: 'APIGW.0303' });
    expect(verifySignature(r, lookup, minutes(14.9))).toEqual({ ok: true, accessKey: AK });
    expect(verifySignature(r, lookup, minutes(2), 60)).toMatchObject({ ok: false, code: 'APIGW.0303' });
  });
});
