// One undici Pool per upstream origin, built at start: keep-alive with idle sockets closed well
// before the API gateway's 300 s cut, explicit connection count, TLS verification on. Pool
// state is read at scrape time, not on the hot path.
//
// Requests go through undici's dispatch handler interface rather than `request()`: a successful
// answer is written to the client chunk by chunk as it arrives (no Readable, no copy of the
// body), and only an error answer (status ≥ 400, small JSON) is buffered so its error_code can
// be read and the attempt retried.

import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { Pool, errors } from 'undici';
import { CONFIG, Config } from '../config/config';
import { MetricsService } from '../metrics/metrics.service';

export interface UpstreamResponse {
  readonly statusCode: number;
  /** Header names and values as received, flat: [name, value, name, value, …]. */
  readonly rawHeaders: readonly string[];
  /** The same by lower-case name (repeated names as arrays), for reading a few of them. */
  readonly headers: Record<string, string | string[]>;
  /** The body of an answer with status ≥ 400; undefined when it was streamed to the sink. */
  readonly body?: Buffer;
}

/** Where an answer with status < 400 goes as it arrives: the client's response. */
export interface ResponseSink {
  start(statusCode: number, rawHeaders: readonly string[]): void;
  /** false when the client's socket buffer is full; `resume` is then called on its drain. */
  write(chunk: Buffer, resume: () => void): boolean;
  end(): void;
}

@Injectable()
export class UpstreamClient implements OnApplicationShutdown {
  private readonly pool?: Pool;

  constructor(@Inject(CONFIG) config: Config, metrics: MetricsService) {
    const u = config.upstream;
    if (!u.endpoint) return;
    this.pool = new Pool(new URL(u.endpoint).origin, {
      connections: u.connections,
      keepAliveTimeout: u.keepAliveTimeoutMs,
      keepAliveMaxTimeout: u.keepAliveTimeoutMs,
      // Servers announce their idle cut in `Keep-Alive: timeout=N`; stop reusing a socket this
      // long before it, so a request never races the server's close.
      keepAliveTimeoutThreshold: 1_000,
      connect: { timeout: u.connectTimeoutMs, rejectUnauthorized: u.tlsRejectUnauthorized },
    });
    const pool = this.pool;
    metrics.onCollect(() => {
      const s = pool.stats;
      metrics.upstreamPool.set({ state: 'connected' }, s.connected);
      metrics.upstreamPool.set({ state: 'free' }, s.free);
      metrics.upstreamPool.set({ state: 'pending' }, s.pending);
      metrics.upstreamPool.set({ state: 'running' }, s.running);
    });
  }

  static isTimeout(err: unknown): boolean {
    return err instanceof AttemptTimeoutError || err instanceof errors.HeadersTimeoutError || err instanceof errors.BodyTimeoutError;
  }

  /**
   * Sends one request; rejects on connection failure or when the whole answer has not arrived in
   * `timeoutMs`. The deadline is one native timer per attempt that aborts the dispatch (undici's
   * own headersTimeout runs on a coarse ~0.5 s clock and fired up to a second late in
   * measurements, so it is switched off rather than run as a second mechanism).
   */
  send(method: string, path: string, headers: Record<string, string>, body: Buffer | undefined, timeoutMs: number, sink: ResponseSink): Promise<UpstreamResponse> {
    const pool = this.pool;
    if (!pool) return Promise.reject(new Error('no upstream configured'));
    return new Promise((resolve, reject) => {
      const handler = new AttemptHandler(timeoutMs, sink, resolve, reject);
      pool.dispatch({ method: method as 'GET', path, headers, body, headersTimeout: 0, bodyTimeout: 0 }, handler);
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool?.close();
  }
}

export class AttemptTimeoutError extends Error {
  readonly code = 'METER_ATTEMPT_TIMEOUT';

  constructor(ms: number) {
    super(`no complete answer within ${ms} ms`);
  }
}

/** undici's (native) handler callbacks for one attempt. */
class AttemptHandler {
  private abort?: (err: Error) => void;
  private readonly timer: NodeJS.Timeout;
  private settled = false;
  private statusCode = 0;
  private rawHeaders: string[] = [];
  private headers: Record<string, string | string[]> = {};
  private streaming = false;
  private resumeFn?: () => void;
  private chunks?: Buffer[];

  constructor(
    private readonly timeoutMs: number,
    private readonly sink: ResponseSink,
    private readonly resolve: (r: UpstreamResponse) => void,
    private readonly reject: (e: Error) => void,
  ) {
    this.timer = setTimeout(() => this.onTimeout(), timeoutMs);
  }

  private onTimeout(): void {
    const err = new AttemptTimeoutError(this.timeoutMs);
    // Still queued for a socket: answer now; onConnect aborts the dispatch when it comes.
    if (this.abort) this.abort(err);
    else this.onError(err);
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.settled) abort(new AttemptTimeoutError(this.timeoutMs));
    else this.abort = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 1xx: the real head follows
    this.statusCode = statusCode;
    const flat: string[] = new Array(rawHeaders.length);
    const byName: Record<string, string | string[]> = {};
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i].toString('latin1');
      const value = rawHeaders[i + 1].toString('latin1');
      flat[i] = name;
      flat[i + 1] = value;
      const lower = name.toLowerCase();
      const prev = byName[lower];
      byName[lower] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
    }
    this.rawHeaders = flat;
    this.headers = byName;
    if (statusCode < 400) {
      this.streaming = true;
      this.resumeFn = resume;
      this.sink.start(statusCode, flat);
    } else {
      this.chunks = [];
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.streaming) return this.sink.write(chunk, this.resumeFn!);
    this.chunks!.push(chunk);
    return true;
  }

  onComplete(): void {
    clearTimeout(this.timer);
    if (this.settled) return;
    this.settled = true;
    if (this.streaming) {
      this.sink.end();
      this.resolve({ statusCode: this.statusCode, rawHeaders: this.rawHeaders, headers: this.headers });
      return;
    }
    const c = this.chunks ?? [];
    this.resolve({ statusCode: this.statusCode, rawHeaders: this.rawHeaders, headers: this.headers, body: c.length === 1 ? c[0] : Buffer.concat(c) });
  }

  onError(err: Error): void {
    clearTimeout(this.timer);
    if (this.settled) return;
    this.settled = true;
    this.reject(err);
  }
}
