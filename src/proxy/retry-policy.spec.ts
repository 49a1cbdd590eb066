import { OPERATION_BY_NAME, OPERATIONS } from '../frs/operations';
import type { AttemptOutcome } from '../metrics/metrics.service';
import { RetryPolicy, connectionErrorCode } from './retry-policy';

const retry = { maxAttempts: 2, budgetRatio: 0.1, budgetMinPerMinute: 10, backoffBaseMs: 50, backoffMaxMs: 1000 };
const policy = new RetryPolicy({ retry });
const detect = OPERATION_BY_NAME.face_detect;
const add = OPERATION_BY_NAME.face_add;

describe('RetryPolicy.decide', () => {
  it('retries after a possibly-billed attempt only for the operations FRS_METER_RETRY_AFTER_TIMEOUT names', () => {
    const only = new RetryPolicy({ retry: { ...retry, afterTimeout: ['face_compare'] } });
    expect(only.decide(detect, 1, 'timeout', undefined)).toEqual({ retry: false, reason: 'possibly_billed' });
    expect(only.decide(detect, 1, 'connection_error', 'UND_ERR_SOCKET')).toEqual({ retry: false, reason: 'possibly_billed' });
    // A connection never made cannot have been billed: still retried.
    expect(only.decide(detect, 1, 'connection_error', 'ECONNREFUSED')).toEqual({ retry: true, reason: 'connect_failed' });
    expect(only.decide(OPERATION_BY_NAME.face_compare, 1, 'timeout', undefined)).toEqual({ retry: true, reason: 'timeout' });
  });

  it.each<[AttemptOutcome, string | undefined, string]>([
    ['timeout', undefined, 'timeout'],
    ['connection_error', 'ECONNRESET', 'connection_error'],
    ['connection_error', 'UND_ERR_SOCKET', 'connection_error'],
    ['server_error', 'FRS.0018', 'server_error:FRS.0018'],
    ['server_error', 'APIG.0201', 'server_error:APIG.0201'],
    ['server_error', 'APIGW.0201', 'server_error:APIGW.0201'],
    ['server_error', undefined, 'server_error'],
    ['throttled', 'FRS.0033', 'throttled'],
    ['client_error', 'FRS.0033', 'throttled'],
  ])('retries an idempotent operation after %s %s', (outcome, code, reason) => {
    expect(policy.decide(detect, 1, outcome, code)).toEqual({ retry: true, reason });
  });

  it.each<[AttemptOutcome, string | undefined]>([
    ['client_error', 'FRS.0501'],
    ['client_error', 'APIG.0201'], // 413: body too large, a retry cannot help
    ['client_error', undefined],
    ['success', undefined],
  ])('does not retry %s %s', (outcome, code) => {
    expect(policy.decide(detect, 1, outcome, code).retry).toBe(false);
  });

  it('never retries face_add, face_set_create or unknown once the request may have reached FRS', () => {
    for (const name of ['face_add', 'face_set_create', 'unknown'] as const) {
      for (const [outcome, code] of [
        ['timeout', undefined],
        ['connection_error', 'ECONNRESET'],
        ['connection_error', 'UND_ERR_SOCKET'],
        ['connection_error', undefined],
        ['server_error', 'FRS.0018'],
        ['server_error', 'APIG.0201'],
        ['throttled', 'FRS.0033'],
      ] as const) {
        expect(policy.decide(OPERATION_BY_NAME[name], 1, outcome, code)).toEqual({ retry: false, reason: 'not_idempotent' });
      }
    }
  });

  it('retries even face_add when the connection was never made', () => {
    for (const code of ['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT']) {
      expect(policy.decide(add, 1, 'connection_error', code)).toEqual({ retry: true, reason: 'connect_failed' });
    }
  });

  it('stops at maxAttempts', () => {
    expect(policy.decide(detect, 2, 'timeout', undefined)).toEqual({ retry: false, reason: 'max_attempts' });
    expect(policy.decide(add, 2, 'connection_error', 'ECONNREFUSED')).toEqual({ retry: false, reason: 'max_attempts' });
    const three = new RetryPolicy({ retry: { ...retry, maxAttempts: 3 } });
    expect(three.decide(detect, 2, 'timeout', undefined).retry).toBe(true);
    expect(three.decide(detect, 3, 'timeout', undefined).retry).toBe(false);
    const one = new RetryPolicy({ retry: { ...retry, maxAttempts: 1 } });
    expect(one.decide(detect, 1, 'timeout', undefined).retry).toBe(false);
  });

  it('gives maxAttempts per operation from the catalogue', () => {
    for (const op of OPERATIONS) expect(policy.maxAttempts(op)).toBe(op.idempotent ? 2 : 1);
    expect(policy.maxAttempts(add)).toBe(1);
    expect(policy.maxAttempts(OPERATION_BY_NAME.face_set_create)).toBe(1);
    expect(policy.maxAttempts(OPERATION_BY_NAME.unknown)).toBe(1);
  });
});

describe('RetryPolicy.backoffMs', () => {
  it('is full jitter: random(0, min(max, base × 2^attempt))', () => {
    const at = (r: number) => new RetryPolicy({ retry }, () => r);
    expect(at(0).backoffMs(1)).toBe(0);
    expect(at(0.5).backoffMs(1)).toBe(50); // cap 100
    expect(at(0.999999).backoffMs(1)).toBe(99);
    expect(at(0.5).backoffMs(2)).toBe(100); // cap 200
    expect(at(0.5).backoffMs(10)).toBe(500); // cap 1000 (backoffMaxMs)
  });

  it('after a throttled answer spreads the retry over the whole backoffMaxMs', () => {
    const p = new RetryPolicy({ retry }, () => 0.75);
    expect(p.backoffMs(1, 'throttled')).toBe(750);
    expect(p.maxBackoffMs(1, 'throttled')).toBe(1000);
    expect(p.maxBackoffMs(1, 'timeout')).toBe(100);
    expect(p.maxBackoffMs(1)).toBe(100);
  });

  it('never exceeds its cap with the real random source', () => {
    for (let i = 0; i < 1000; i++) {
      const ms = policy.backoffMs(1, 'server_error');
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(ms).toBeLessThan(100);
    }
  });
});

describe('RetryPolicy.isAuthExpired', () => {
  it.each<[number, string | undefined, boolean]>([
    [401, 'APIG.0301', true],
    [401, 'APIGW.0301', true],
    [403, 'FRS.0002', true],
    [401, undefined, true],
    [403, undefined, false],
    [403, 'FRS.0028', false], // wrong project: a new token does not help
    [401, 'APIGW.0303', false], // AK/SK signature expired: a clock problem, not a token
    [500, 'FRS.0018', false],
    [200, undefined, false],
  ])('status %d code %s → %s', (status, code, expected) => {
    expect(policy.isAuthExpired(status, code)).toBe(expected);
  });
});

describe('connectionErrorCode', () => {
  it('finds the connect error under undici and AggregateError wrappers', () => {
    expect(connectionErrorCode(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe('ECONNREFUSED');
    expect(connectionErrorCode(Object.assign(new AggregateError([Object.assign(new Error('a'), { code: 'ECONNREFUSED' })]), { code: 'ECONNREFUSED' }))).toBe('ECONNREFUSED');
    expect(connectionErrorCode(Object.assign(new AggregateError([Object.assign(new Error('a'), { code: 'ECONNREFUSED' })]), {}))).toBe('ECONNREFUSED');
    expect(connectionErrorCode(Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET', cause: Object.assign(new Error('r'), { code: 'ECONNRESET' }) }))).toBe('UND_ERR_SOCKET');
    expect(connectionErrorCode(Object.assign(new Error('t'), { code: 'UND_ERR_CONNECT_TIMEOUT' }))).toBe('UND_ERR_CONNECT_TIMEOUT');
    expect(connectionErrorCode(new Error('plain'))).toBeUndefined();
    expect(connectionErrorCode(undefined)).toBeUndefined();
  });
});
