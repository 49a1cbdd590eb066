import { loadConfig } from './config';
import { ConfigError } from './env';

const BASE = {
  FRS_ENDPOINT: 'https://face.cn-north-4.myhuaweicloud.com',
  HUAWEICLOUD_SDK_AK: 'AK',
  HUAWEICLOUD_SDK_SK: 'SK',
  FRS_METER_SECRET_KEY: '0123456789abcdef',
};

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

describe('loadConfig', () => {
  it('reads a minimal valid environment with the documented defaults', () => {
    const c = loadConfig(BASE);
    expect(c.server.port).toBe(8080);
    expect(c.usage.billingTimezone).toBe('Asia/Shanghai');
    expect(c.usage.freeTierCalls).toBe(2000);
    expect(c.usage.freeTierExcluded).toEqual(['live_detect', 'live_detect_face']);
    expect(c.usage.freeTierScope).toBe('per_account');
    expect(c.usage.flushIntervalMs).toBe(1000);
    expect(c.usage.drawdownOrder).toEqual(['qps_package', 'call_package', 'free_tier', 'pay_per_use']);
    expect(c.upstream.auth).toEqual({ kind: 'aksk', ak: 'AK', sk: 'SK' });
    expect(c.billing.endpoint).toBe('https://bss.myhuaweicloud.com');
    expect(c.retry.maxAttempts).toBe(2);
    expect(c.database.url).toBeUndefined();
  });

  it('refuses to start without an upstream, naming FRS_ENDPOINT', () => {
    const { FRS_ENDPOINT: _omit, ...rest } = BASE;
    expect(problems(rest)).toEqual([expect.stringContaining('FRS_ENDPOINT is required')]);
  });

  it('lists every bad variable at once, each by name with what is expected', () => {
    const found = problems({ ...BASE, PORT: 'eighty', BILLING_TIMEZONE: 'Mars/Olympus', FRS_METER_QPS_SHAPING: 'maybe', FRS_ENDPOINT: 'ftp://x', FRS_METER_FREE_TIER_EXCLUDED: 'live_detect,bogus_op' });
    expect(found).toHaveLength(5);
    expect(found.join('\n')).toMatch(/PORT="eighty" is not valid: expected a whole number/);
    expect(found.join('\n')).toMatch(/BILLING_TIMEZONE="Mars\/Olympus" is not valid: expected an IANA time zone/);
    expect(found.join('\n')).toMatch(/FRS_METER_QPS_SHAPING="maybe" is not valid: expected on\/off/);
    expect(found.join('\n')).toMatch(/FRS_ENDPOINT="ftp:\/\/x" is not valid: expected an http\(s\) URL/);
    expect(found.join('\n')).toMatch(/FRS_METER_FREE_TIER_EXCLUDED has unknown value\(s\) bogus_op/);
  });

  it('needs the AK and SK together, or the four IAM variables together', () => {
    expect(problems({ ...BASE, HUAWEICLOUD_SDK_SK: '' })).toEqual([expect.stringContaining('HUAWEICLOUD_SDK_SK is required when HUAWEICLOUD_SDK_AK is set')]);
    const { HUAWEICLOUD_SDK_AK: _a, HUAWEICLOUD_SDK_SK: _s, ...noKeys } = BASE;
    expect(problems({ ...noKeys, IAM_ENDPOINT: 'https://iam.example.com', FRS_PROJECT_ID: 'p' })).toEqual([expect.stringContaining('IAM_DOMAIN_NAME, IAM_USERNAME, IAM_PASSWORD required')]);
    expect(problems(noKeys)).toEqual([expect.stringContaining('HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK')]);
  });

  it('reads the edge settings with their documented defaults, and names each bad one', () => {
    const c = loadConfig(BASE);
    expect(c.server).toMatchObject({ headersTimeoutMs: 5_000, bodyGraceMs: 5_000, minBodyBytesPerSecond: 32_768, keepAliveTimeoutMs: 65_000 });
    expect(c.database).toMatchObject({ connectTimeoutMs: 3_000, statementTimeoutMs: 30_000, readinessIntervalMs: 1_000 });
    expect(c.auth).toMatchObject({ readonlyTokens: [], clientUnsignedPayload: 'multipart', appReloadIntervalMs: 1_000 });
    expect(c.upstream.pathEncoding).toBe('single');
    expect(loadConfig({ ...BASE, FRS_METER_READONLY_TOKENS: 'finance-token-1, dash-token-0002' }).auth.readonlyTokens).toEqual(['finance-token-1', 'dash-token-0002']);
    const found = problems({
      ...BASE,
      FRS_METER_ADMIN_TOKEN: 'admin-token-1',
      FRS_METER_READONLY_TOKENS: 'admin-token-1,short',
      FRS_METER_CLIENT_UNSIGNED_PAYLOAD: 'always',
      FRS_METER_UPSTREAM_PATH_ENCODING: 'triple',
      FRS_METER_HEADERS_TIMEOUT_MS: 'soon',
    });
    for (const name of ['FRS_METER_READONLY_TOKENS has a token shorter', 'FRS_METER_READONLY_TOKENS must not contain FRS_METER_ADMIN_TOKEN', 'FRS_METER_CLIENT_UNSIGNED_PAYLOAD', 'FRS_METER_UPSTREAM_PATH_ENCODING', 'FRS_METER_HEADERS_TIMEOUT_MS']) {
      expect(found).toContainEqual(expect.stringContaining(name));
    }
    expect(found).toHaveLength(5);
  });

  it('requires a secret key long enough to derive the encryption key from', () => {
    expect(problems({ ...BASE, FRS_METER_SECRET_KEY: 'short' })).toEqual([expect.stringContaining('FRS_METER_SECRET_KEY is too short')]);
  });
});
