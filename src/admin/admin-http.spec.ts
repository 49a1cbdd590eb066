// The admin HTTP helpers on their own: query validation and formula-safe CSV.
import { parse } from 'csv-parse/sync';
import { FORMAT, parseAdminQuery, toCsv } from './admin-http';
import { AdminTokens, tokenScope } from './admin-tokens';
import type { Config } from '../config/config';

describe('parseAdminQuery', () => {
  const spec = { month: 'month', limit: { int: [1, 100] }, format: FORMAT, since: 'instant', app: 'string' } as const;

  it('returns typed values for a valid query', () => {
    expect(parseAdminQuery({ month: '2026-02', limit: '7', format: 'csv', since: '2026-02-01T00:00:00+08:00', app: 'a' }, spec)).toEqual({
      month: '2026-02',
      limit: 7,
      format: 'csv',
      since: Date.UTC(2026, 0, 31, 16),
      app: 'a',
    });
  });

  it.each([
    [{ app: ['a', 'b'] }, /"app" is repeated/],
    [{ colour: 'red' }, /unknown query parameter "colour"/],
    [{ month: '2026-2' }, /"month" must be a month/],
    [{ limit: '0' }, /"limit" must be a whole number from 1 to 100/],
    [{ limit: '1.5' }, /"limit"/],
    [{ format: 'xml' }, /"format" must be one of json, csv/],
    [{ since: '2026-02-01' }, /"since" must be an ISO 8601 time/],
  ])('refuses %j naming the parameter', (raw, message) => {
    expect(() => parseAdminQuery(raw as Record<string, unknown>, spec)).toThrow(expect.objectContaining({ response: expect.objectContaining({ error_code: 'METER.0400', error_msg: expect.stringMatching(message) }) }));
  });

  it('reads an offset whose unencoded "+" arrived as a space', () => {
    expect(parseAdminQuery({ since: '2026-02-01T00:00:00 08:00' }, spec)).toEqual({ since: Date.UTC(2026, 0, 31, 16) });
  });

  it('refuses any parameter on a route that declares none', () => {
    expect(() => parseAdminQuery({ x: '1' }, {})).toThrow(/./);
    expect(parseAdminQuery({}, {})).toEqual({});
  });
});

describe('toCsv', () => {
  it('neutralises formula text, keeps numbers and declared decimal columns as they are', () => {
    const rows = [
      { name: '=HYPERLINK("http://x","y")', amount: '-12.40', n: -3, ok: true, note: null },
      { name: '+1', amount: '=1+1', n: 0, ok: false, note: { a: 1 } },
      { name: '-1', amount: '0.00', n: 2, ok: true, note: '\tx' },
      { name: '@x', amount: '7', n: 1, ok: true, note: 'plain, "quoted"' },
    ];
    const text = toCsv(['name', 'amount', 'n', 'ok', 'note'], rows, ['amount']);
    expect(text.endsWith('\r\n')).toBe(true);
    expect(parse(text, { columns: true })).toEqual([
      { name: '\'=HYPERLINK("http://x","y")', amount: '-12.40', n: '-3', ok: 'true', note: '' },
      // A formula in a money column is still neutralised: only plain decimals pass as they are.
      { name: "'+1", amount: "'=1+1", n: '0', ok: 'false', note: '{"a":1}' },
      { name: "'-1", amount: '0.00', n: '2', ok: 'true', note: "'\tx" },
      { name: "'@x", amount: '7', n: '1', ok: 'true', note: 'plain, "quoted"' },
    ]);
  });
});

describe('admin tokens', () => {
  const auth = { adminToken: 'admin-token-1234', readonlyTokens: ['finance-1234567', 'dash-12345678'], secretKey: 'k'.repeat(20) } as unknown as Config['auth'];
  const config = { auth } as Config;

  it('tells the scope of each token, and nothing for others', () => {
    expect(tokenScope(config, 'admin-token-1234')).toBe('admin');
    expect(tokenScope(config, 'finance-1234567')).toBe('readonly');
    expect(tokenScope(config, 'dash-12345678')).toBe('readonly');
    expect(tokenScope(config, 'admin-token-123')).toBeUndefined();
    expect(tokenScope(config, '')).toBeUndefined();
    expect(tokenScope(config, undefined)).toBeUndefined();
  });

  it('fingerprints a token stably, differently per token and per secret key, never showing it', () => {
    const t = new AdminTokens(auth);
    const fp = t.fingerprint('admin-token-1234');
    expect(fp).toMatch(/^[0-9a-f]{16}$/);
    expect(t.fingerprint('admin-token-1234')).toBe(fp);
    expect(t.fingerprint('finance-1234567')).not.toBe(fp);
    expect(new AdminTokens({ ...auth, secretKey: 'z'.repeat(20) }).fingerprint('admin-token-1234')).not.toBe(fp);
    expect(t.actor('finance-1234567')).toEqual({ scope: 'readonly', fingerprint: t.fingerprint('finance-1234567') });
  });
});
