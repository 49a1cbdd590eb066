import { RetryBudget } from './retry-budget';

const retry = { maxAttempts: 2, budgetRatio: 0.1, budgetMinPerMinute: 10, backoffBaseMs: 50, backoffMaxMs: 1000 };
const T0 = Date.UTC(2025, 0, 1);

function drain(b: RetryBudget, now: number): number {
  let n = 0;
  while (b.tryAcquire(now)) n++;
  return n;
}

describe('RetryBudget', () => {
  it('allows the floor on a quiet service', () => {
    const b = new RetryBudget({ retry });
    expect(drain(b, T0)).toBe(10);
    expect(b.state(T0)).toEqual({ requests: 0, retries: 10, allowed: 10 });
  });

  it('allows budgetRatio of the last minute of requests above the floor', () => {
    const b = new RetryBudget({ retry });
    for (let i = 0; i < 1000; i++) b.onRequest(T0 + i * 10); // 1000 requests over 10 s
    expect(drain(b, T0 + 10_000)).toBe(100);
    expect(b.tryAcquire(T0 + 10_000)).toBe(false);
    // More requests earn more retries.
    for (let i = 0; i < 100; i++) b.onRequest(T0 + 10_000);
    expect(drain(b, T0 + 10_000)).toBe(10);
  });

  it('forgets requests and retries older than a minute', () => {
    const b = new RetryBudget({ retry });
    for (let i = 0; i < 1000; i++) b.onRequest(T0);
    expect(drain(b, T0)).toBe(100);
    expect(b.state(T0 + 59_999)).toEqual({ requests: 1000, retries: 100, allowed: 100 });
    expect(b.state(T0 + 60_000)).toEqual({ requests: 0, retries: 0, allowed: 10 });
    // A jump of hours is handled like a minute.
    for (let i = 0; i < 500; i++) b.onRequest(T0 + 3_600_000);
    expect(drain(b, T0 + 3_600_000)).toBe(50);
  });

  it('slides second by second', () => {
    const b = new RetryBudget({ retry: { ...retry, budgetMinPerMinute: 0 } });
    for (let s = 0; s < 60; s++) for (let i = 0; i < 10; i++) b.onRequest(T0 + s * 1000);
    expect(b.state(T0 + 59_000).allowed).toBe(60);
    expect(b.state(T0 + 60_000).allowed).toBe(59);
    expect(b.state(T0 + 90_000).allowed).toBe(29);
  });

  it('keeps attempts under requests × 1.1 + floor when half of all attempts fail', () => {
    const b = new RetryBudget({ retry });
    let requests = 0;
    let attempts = 0;
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    // 5 minutes at 50 requests/s; every failed attempt asks for a retry (up to 2 attempts).
    for (let ms = 0; ms < 300_000; ms += 20) {
      const now = T0 + ms;
      b.onRequest(now);
      requests++;
      attempts++;
      if (rand() < 0.5 && b.tryAcquire(now)) {
        attempts++;
        // Whenever a retry is granted, the last minute's retries are within the budget.
        const s = b.state(now);
        expect(s.retries).toBeLessThanOrEqual(Math.max(retry.budgetMinPerMinute, s.requests * retry.budgetRatio));
      }
    }
    expect(attempts).toBeLessThanOrEqual(requests * 1.1 + retry.budgetMinPerMinute * 5);
    expect(attempts).toBeGreaterThan(requests * 1.09);
  });
});
