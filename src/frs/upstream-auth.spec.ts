// The proxy's upstream AK/SK signing is built from precomputed pieces for speed; these specs hold
// it to the general signer (itself checked against the official SDK in signer.spec.ts) and the
// precomputed HMAC to node's createHmac, byte for byte.

import { createHmac } from 'node:crypto';
import { loadConfig } from '../config/config';
import { ManualClock } from '../common/clock';
import { HmacSha256Key, sdkDate, sdkDateAt, sha256Hex, signRequest } from './signer';
import { UpstreamAuth } from './upstream-auth';

const AK = 'UPSTREAMSPECAK0000001';
const SK = 'upstream-spec-secret-key-0000000000000001';
const NOW = new Date('2024-03-05T06:07:08.999Z');

function auth(signBody: boolean): UpstreamAuth {
  const config = loadConfig({
    FRS_ENDPOINT: 'https://face.cn-north-4.myhuaweicloud.com',
    HUAWEICLOUD_SDK_AK: AK,
    HUAWEICLOUD_SDK_SK: SK,
    FRS_METER_SECRET_KEY: '0123456789abcdef',
    ...(signBody ? { FRS_METER_SIGN_BODY: 'on' } : {}),
  });
  return new UpstreamAuth(config, new ManualClock(NOW, { frozen: true }));
}

describe('HmacSha256Key', () => {
  it.each([
    ['short key', 'k'],
    ['64-byte key', 'x'.repeat(64)],
    ['key over one block', 'long-'.repeat(30)],
    ['multi-byte key', 'schlüssel-密钥'],
  ])('gives the bytes of createHmac for a %s', (_name, key) => {
    const k = new HmacSha256Key(key);
    for (const message of ['', 'SDK-HMAC-SHA256\n20240305T060708Z\nabc', 'ü'.repeat(100)]) {
      expect(k.hex(message)).toBe(createHmac('sha256', key).update(message).digest('hex'));
    }
  });
});

describe('sdkDateAt', () => {
  it('formats the second it is in, also when reused from its cache', () => {
    expect(sdkDateAt(NOW.getTime())).toBe('20240305T060708Z');
    expect(sdkDateAt(NOW.getTime() - 998)).toBe('20240305T060708Z');
    expect(sdkDateAt(NOW.getTime() + 1)).toBe('20240305T060709Z');
    expect(sdkDateAt(Date.UTC(2025, 11, 31, 23, 59, 59, 500))).toBe('20251231T235959Z');
    expect(sdkDateAt(Date.UTC(2026, 0, 1, 0, 0, 0, 0))).toBe('20260101T000000Z');
  });
});

describe('UpstreamAuth (AK/SK)', () => {
  const cases: Array<{ name: string; method: string; path: string; query: string; headers: Record<string, string> }> = [
    { name: 'JSON POST with project header', method: 'POST', path: '/v2/p1/face-detect', query: '', headers: { 'content-type': 'application/json', 'x-project-id': 'p1' } },
    { name: 'GET with query, no content-type', method: 'GET', path: '/v2/p1/face-sets/my set/faces', query: 'offset=0&limit=5&b=a+b', headers: { 'x-project-id': 'p1' } },
    { name: 'DELETE without project header', method: 'DELETE', path: '/v2/p1/face-sets/s1', query: '', headers: {} },
  ];

  it.each(cases)('signs $name with UNSIGNED-PAYLOAD by default, as signRequest does', ({ method, path, query, headers }) => {
    const sent: Record<string, string> = { ...headers, 'x-request-id': 'r1' };
    void auth(false).apply(method, path, query, sent, 'ignored');
    expect(sent['x-sdk-content-sha256']).toBe('UNSIGNED-PAYLOAD');
    const expected = signRequest(
      { method, path, query, headers: { host: 'face.cn-north-4.myhuaweicloud.com', ...headers, 'x-sdk-content-sha256': 'UNSIGNED-PAYLOAD' } },
      { ak: AK, sk: SK },
      NOW,
    );
    expect({ date: sent['x-sdk-date'], authorization: sent.authorization }).toEqual({ date: expected['X-Sdk-Date'], authorization: expected.Authorization });
    expect(sent['x-sdk-date']).toBe(sdkDate(NOW));
  });

  it.each(cases)('signs $name over the body hash with FRS_METER_SIGN_BODY=on', ({ method, path, query, headers }) => {
    const body = Buffer.from('{"image_base64":"aGVsbG8="}');
    const sent: Record<string, string> = { ...headers };
    void auth(true).apply(method, path, query, sent, sha256Hex(body));
    expect(sent['x-sdk-content-sha256']).toBeUndefined();
    const expected = signRequest({ method, path, query, headers: { host: 'face.cn-north-4.myhuaweicloud.com', ...headers }, body }, { ak: AK, sk: SK }, NOW);
    expect(sent.authorization).toBe(expected.Authorization);
  });
});
