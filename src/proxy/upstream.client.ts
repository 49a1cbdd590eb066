// One undici Pool per upstream origin, built at start: keep-alive with idle sockets closed well
// before the API gateway's 300 s cut, explicit connection count, TLS verification on. Pool
// state is read at scrape time, not on the hot path.

import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { Pool, errors } from 'undici';
import { CONFIG, Config } from '../config/config';
import { MetricsService } from '../metrics/metrics.service';

export interface UpstreamResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
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
   * `timeoutMs`. The deadline is a native timer aborting the request: undici's own
   * headersTimeout runs on a coarse ~0.5 s clock and fired up to a second late in measurements.
   */
  async send(method: string, path: string, headers: Record<string, string>, body: Buffer | undefined, timeoutMs: number): Promise<UpstreamResponse> {
    if (!this.pool) throw new Error('no upstream configured');
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new AttemptTimeoutError(timeoutMs)), timeoutMs);
    try {
      const res = await this.pool.request({ method: method as 'GET', path, headers, body, signal: ac.signal, headersTimeout: timeoutMs + 1_000, bodyTimeout: timeoutMs + 1_000 });
      const chunks: Buffer[] = [];
      for await (const chunk of res.body) chunks.push(chunk as Buffer);
      return { statusCode: res.statusCode, headers: res.headers, body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks) };
    } finally {
      clearTimeout(timer);
    }
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
