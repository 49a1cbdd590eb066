// Bounds on how long a client may hold a connection (README "Security"): headers within
// FRS_METER_HEADERS_TIMEOUT_MS (Node's own headersTimeout), a body at no less than
// FRS_METER_MIN_BODY_BYTES_PER_SECOND on average after FRS_METER_BODY_GRACE_MS (checked here,
// so the bound grows with the body: a 12 MB image on a slow link passes, a stalled or
// 1 B/s body is cut), and idle keep-alive sockets closed after
// FRS_METER_CLIENT_KEEPALIVE_TIMEOUT_MS. A cut client gets 408 and a closed socket; each cut
// is counted in frs_client_timeouts_total{phase}.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { Config } from './config/config';
import { meterErrorBody } from './frs/error-codes';
import type { MetricsService } from './metrics/metrics.service';

type ServerTimeouts = Config['server'];

/** Node's hard cap on receiving a whole request: never stricter than the rate rule for the largest body. */
function requestCapMs(t: ServerTimeouts, maxBodyBytes: number): number {
  return t.headersTimeoutMs + t.bodyGraceMs + Math.ceil((maxBodyBytes / t.minBodyBytesPerSecond) * 1000) + 1_000;
}

const TIMEOUT_BODY = meterErrorBody('METER.0408', 'Request not received in time: headers or body arrived too slowly');

/** Sockets whose request body the rate check is watching: a Node timeout on them is a body timeout. */
const inBody = new WeakSet<Socket>();

/** Fastify options that set Node's own limits and answer its timeouts with METER.0408. */
export function serverTimeoutOptions(t: ServerTimeouts, maxBodyBytes: number, metrics: MetricsService): Partial<FastifyServerOptions> {
  const cap = requestCapMs(t, maxBodyBytes);
  return {
    keepAliveTimeout: t.keepAliveTimeoutMs,
    requestTimeout: cap,
    http: {
      headersTimeout: t.headersTimeoutMs,
      requestTimeout: cap,
      // Node looks for expired headers at this period (default 30 s, which would let slow
      // headers hold a socket for half a minute whatever the timeout says).
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(t.headersTimeoutMs / 4))),
    },
    clientErrorHandler(err: Error & { code?: string }, socket: Socket) {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
      if (timeout) metrics.clientTimeouts.labels(inBody.has(socket) ? 'body' : 'headers').inc();
      const [status, text, body] = timeout
        ? [408, 'Request Timeout', TIMEOUT_BODY]
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'Request Header Fields Too Large', meterErrorBody('METER.0431', 'Request headers too large')]
          : [400, 'Bad Request', meterErrorBody('METER.0400', 'Malformed HTTP request')];
      if (socket.writable) {
        socket.write(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json;charset=UTF-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      }
      socket.destroy();
    },
  } as Partial<FastifyServerOptions>;
}

/**
 * The body-rate rule: once a request with a body has been open longer than the grace, the bytes
 * received must keep up with `minBodyBytesPerSecond` × (elapsed − grace). One timer per request
 * with a body, set for the moment the rule could first be broken and moved on as bytes come;
 * a body that completes before the grace (nearly all) costs one timer set and cleared.
 */
export function guardBodyRate(fastify: FastifyInstance, t: ServerTimeouts, metrics: MetricsService): void {
  const watch = bodyRateWatcher(t, metrics);
  fastify.addHook('onRequest', (req, reply, done) => {
    // Fastify is still reading the body when a cut comes: take the reply over first.
    watch(req.raw, reply.raw, () => reply.hijack());
    done();
  });
}

/** The same rule for a raw node:http request (the proxy serves FRS paths without Fastify). */
export function bodyRateWatcher(t: ServerTimeouts, metrics: MetricsService): (raw: IncomingMessage, res: ServerResponse, beforeCut?: () => void) => void {
  const cuts = metrics.clientTimeouts.labels('body');
  return (raw, res, beforeCut) => {
    const h = raw.headers;
    if ((h['content-length'] === undefined || h['content-length'] === '0') && h['transfer-encoding'] === undefined) return;
    new BodyRateWatch(t, cuts, raw, res, beforeCut);
  };
}

/**
 * One request's body-rate check: an object with two bound callbacks rather than a closure per
 * step, since it lives as long as the request and every in-flight request holds one.
 */
class BodyRateWatch {
  private readonly socket: Socket;
  private start = performance.now();
  private startBytes: number;
  private timer: NodeJS.Timeout | undefined;
  private firesAt = 0;
  private readonly stop = (): void => {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    inBody.delete(this.socket);
  };
  private readonly check = (): void => this.onTimer();

  constructor(
    private readonly t: ServerTimeouts,
    private readonly cuts: { inc(): void },
    private readonly raw: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly beforeCut: (() => void) | undefined,
  ) {
    this.socket = raw.socket;
    this.startBytes = this.socket.bytesRead;
    inBody.add(this.socket);
    this.schedule(t.bodyGraceMs);
    raw.once('end', this.stop);
    res.once('close', this.stop);
  }

  private schedule(ms: number): void {
    this.firesAt = performance.now() + ms;
    this.timer = setTimeout(this.check, ms);
  }

  private violated(): boolean {
    if (this.raw.readableFlowing !== true) {
      // Nobody is reading the body yet (or reading is paused): the wait is ours, not the
      // client's, so the clock starts again when reading does.
      this.start = performance.now();
      this.startBytes = this.socket.bytesRead;
      return false;
    }
    return performance.now() - this.start >= this.t.bodyGraceMs + ((this.socket.bytesRead - this.startBytes) / this.t.minBodyBytesPerSecond) * 1000;
  }

  private cut(): void {
    this.stop();
    this.cuts.inc();
    this.beforeCut?.();
    const { res, socket } = this;
    if (!res.headersSent) {
      res.writeHead(408, { 'content-type': 'application/json;charset=UTF-8', 'content-length': Buffer.byteLength(TIMEOUT_BODY), connection: 'close' });
      res.end(TIMEOUT_BODY, () => socket.destroy());
    } else {
      socket.destroy();
    }
  }

  private next(): void {
    const received = this.socket.bytesRead - this.startBytes;
    this.schedule(Math.max(10, this.start + this.t.bodyGraceMs + (received / this.t.minBodyBytesPerSecond) * 1000 - performance.now() + 1));
  }

  private done(): boolean {
    return this.raw.complete || this.raw.destroyed || this.socket.destroyed;
  }

  private onTimer(): void {
    this.timer = undefined;
    if (this.done()) return this.stop();
    // A timer that fires late means this process was stalled (GC, CPU starved): that time is
    // not the client's, and the bytes it sent meanwhile have not been read yet.
    const lag = performance.now() - this.firesAt;
    if (lag > 20) this.start += lag;
    if (!this.violated()) return this.next();
    // Timers run before the event loop polls sockets: look once more after the poll phase.
    setImmediate(() => {
      if (this.done()) return this.stop();
      if (this.violated()) this.cut();
      else this.next();
    });
  }
}
