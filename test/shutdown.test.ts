// Graceful stop: new connections are refused, a call in flight finishes and is counted, the
// final flush writes it, and health endpoints tell what they should before and after.

import { request } from 'undici';
import { pathFor } from '../src/frs/operations';
import { startStack, Stack } from './support/stack';

describe('health and graceful shutdown', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack();
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('answers /healthz and /readyz', async () => {
    const health = await request(`${stack.meterUrl}/healthz`);
    expect({ status: health.statusCode, body: await health.body.json() }).toEqual({ status: 200, body: { status: 'ok' } });
    const ready = await request(`${stack.meterUrl}/readyz`);
    expect({ status: ready.statusCode, body: await ready.body.json() }).toEqual({
      status: 200,
      body: { status: 'ready', database: 'reachable', upstream: 'configured', pending_usage_events: expect.any(Number) },
    });
  });

  it('finishes a call in flight when stopped, counts it, and refuses new connections', async () => {
    stack.emulator.setFaults({ stalls: { face_detect: { fraction: 1, seconds: 0.8 } } });
    const inflight = request(`${stack.meterUrl}${pathFor('face_detect', stack.projectId)}`, {
      method: 'POST',
      headers: { 'x-auth-token': stack.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ image_base64: 'aGVsbG8=' }),
    });
    await new Promise((r) => setTimeout(r, 200));
    const closing = stack.service.close();
    await new Promise((r) => setTimeout(r, 100));
    await expect(request(`${stack.meterUrl}/healthz`, { reset: true })).rejects.toThrow();
    const res = await inflight;
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    const t0 = Date.now();
    await closing;
    expect(Date.now() - t0).toBeLessThan(5_000);
    const [row] = await (async () => {
      const { Client } = await import('pg');
      const c = new Client({ connectionString: stack.databaseUrl });
      await c.connect();
      try {
        return (await c.query(`SELECT SUM(billable)::int AS n FROM usage_counts WHERE operation = 'face_detect' AND kind = 'attempt'`)).rows;
      } finally {
        await c.end();
      }
    })();
    expect(row.n).toBe(1);
  });
});
