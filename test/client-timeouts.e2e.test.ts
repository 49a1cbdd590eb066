// Slow clients against a real frs-meter, with raw sockets and small configured timeouts:
// slow headers, a stalled body and a trickling body are cut (408 or closed) within their
// bounds while a parallel good call answers fast; a slow but steady large body still passes;
// an idle keep-alive socket is closed after the keep-alive timeout; each cut is counted.

import { connect, Socket } from 'node:net';
import { request } from 'undici';
import { pathFor } from '../src/frs/operations';
import { startStack, Stack } from './support/stack';
import { scrape, sum } from './support/metrics';

const HEADERS_MS = 800;
const GRACE_MS = 500;
// Far below what the tests send (160 KB/s), so a loaded CI machine that starves this process
// for a moment (client and server share it) does not look like a slow client.
const RATE = 16 * 1024;
const KEEPALIVE_MS = 1_000;

let stack: Stack;
let host: string;
let port: number;

interface Watched {
  readonly socket: Socket;
  /** Resolves when the server closed the socket: ms since opening, and everything received. */
  readonly closed: Promise<{ ms: number; data: string }>;
}

function open(): Promise<Watched> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const socket = connect(port, host);
    let data = '';
    socket.on('data', (c) => (data += c.toString('latin1')));
    socket.on('error', () => undefined);
    const closed = new Promise<{ ms: number; data: string }>((r) => socket.on('close', () => r({ ms: performance.now() - t0, data })));
    socket.once('connect', () => resolve({ socket, closed }));
    socket.once('error', reject);
  });
}

function drip(socket: Socket, bytes: string, everyMs: number): NodeJS.Timeout {
  let i = 0;
  const t = setInterval(() => {
    if (socket.destroyed || i >= bytes.length) return clearInterval(t);
    socket.write(bytes[i++]);
  }, everyMs);
  return t;
}

async function goodCall(): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  const res = await request(`${stack.meterUrl}${pathFor('face_detect', stack.projectId)}`, {
    method: 'POST',
    headers: { 'x-auth-token': stack.apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({ image_base64: 'aGVsbG8=' }),
  });
  await res.body.text();
  return { status: res.statusCode, ms: performance.now() - t0 };
}

beforeAll(async () => {
  stack = await startStack({
    env: {
      FRS_METER_HEADERS_TIMEOUT_MS: String(HEADERS_MS),
      FRS_METER_BODY_GRACE_MS: String(GRACE_MS),
      FRS_METER_MIN_BODY_BYTES_PER_SECOND: String(RATE),
      FRS_METER_CLIENT_KEEPALIVE_TIMEOUT_MS: String(KEEPALIVE_MS),
    },
  });
  ({ hostname: host } = new URL(stack.meterUrl));
  port = stack.service.port;
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

describe('slow clients', () => {
  it('cuts slow headers, a stalled body and a trickling body within their bounds while a good call stays fast', async () => {
    for (let i = 0; i < 3; i++) await goodCall(); // warm: the measured call below is not the first
    const p = pathFor('face_detect', stack.projectId);

    const slowHeaders = await open();
    slowHeaders.socket.write(`POST ${p} HTTP/1.1\r\nHost: x\r\n`);
    const t1 = drip(slowHeaders.socket, 'X-Slow: ' + 'a'.repeat(100), 100);

    const stalled = await open();
    stalled.socket.write(`POST ${p} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: ${stack.apiKey}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"image_b`);

    const trickle = await open();
    trickle.socket.write(`POST ${p} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: ${stack.apiKey}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n`);
    const t2 = drip(trickle.socket, '{"image_base64":"' + 'A'.repeat(80) + '"}', 100);

    await new Promise((r) => setTimeout(r, 300));
    // While all three hold their sockets: good calls answer at once. The fastest of three is
    // asserted, as one call on a loaded 2-core CI box can lose a scheduler slice to anything.
    const good = [await goodCall(), await goodCall(), await goodCall()];
    expect(good.map((g) => g.status)).toEqual([200, 200, 200]);
    expect(Math.min(...good.map((g) => g.ms))).toBeLessThan(50);

    const [h, s, t] = await Promise.all([slowHeaders.closed, stalled.closed, trickle.closed]);
    clearInterval(t1);
    clearInterval(t2);
    // Headers: Node checks every HEADERS_MS / 4, so the cut lands between the timeout and +1 s.
    expect(h.ms).toBeGreaterThanOrEqual(HEADERS_MS - 50);
    expect(h.ms).toBeLessThan(HEADERS_MS + 1_000);
    expect(h.data).toMatch(/^HTTP\/1\.1 408 /);
    expect(h.data).toContain('METER.0408');
    // Body of 100 bytes: bound = grace + 100 B / 16 KiB/s ≈ 506 ms.
    for (const b of [s, t]) {
      expect(b.ms).toBeGreaterThanOrEqual(GRACE_MS - 50);
      expect(b.ms).toBeLessThan(GRACE_MS + 1_000);
      expect(b.data).toMatch(/^HTTP\/1\.1 408 /);
    }
    const m = await scrape(stack.meterUrl);
    expect(sum(m, 'frs_client_timeouts_total', { phase: 'headers' })).toBe(1);
    expect(sum(m, 'frs_client_timeouts_total', { phase: 'body' })).toBe(2);
  });

  it('lets a large body arriving slowly but above the minimum rate through', async () => {
    // 320 KB at about 160 KB/s: 2 s, four times the grace; the bound grows with the size.
    const body = JSON.stringify({ image_base64: 'A'.repeat(320 * 1024) });
    const c = await open();
    c.socket.write(`POST ${pathFor('face_detect', stack.projectId)} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: ${stack.apiKey}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
    const t0 = performance.now();
    for (let off = 0; off < body.length; off += 16 * 1024) {
      c.socket.write(body.slice(off, off + 16 * 1024));
      await new Promise((r) => setTimeout(r, 100));
    }
    const done = await c.closed;
    expect(performance.now() - t0).toBeGreaterThan(GRACE_MS * 3);
    expect(done.data).toMatch(/^HTTP\/1\.1 200 /);
    expect(sum(await scrape(stack.meterUrl), 'frs_client_timeouts_total', { phase: 'body' })).toBe(2);
  });

  it('closes an idle keep-alive socket after the keep-alive timeout', async () => {
    const c = await open();
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    const done = await c.closed;
    expect(done.data).toMatch(/^HTTP\/1\.1 200 /);
    // The client is told the timeout; Node closes its side up to its 1 s keepAliveTimeoutBuffer
    // later, so a well-behaved client always closes first.
    expect(done.data).toMatch(/\r\nKeep-Alive: timeout=1\r\n/i);
    expect(done.ms).toBeGreaterThanOrEqual(KEEPALIVE_MS - 50);
    expect(done.ms).toBeLessThan(KEEPALIVE_MS + 1_000 + 500);
  });
});
