// The hot path: classify → authenticate the app → check size → admit (QPS) → forward with
// timeouts and safe retries → record. Served on node:http directly (proxy.routes.ts), not through
// Fastify's request pipeline. Bodies are read once into one buffer (body-reader.ts) and forwarded
// as the bytes received, never parsed; successful answers stream back to the client as they
// arrive and only small upstream error bodies are buffered for their error_code. Nothing here
// touches the database: usage goes to the in-memory buffer and is flushed in batches.
//
// Retries: the request body is held (one buffer, bounded by the size limit) until the request is
// answered, so any attempt can be resent. A successful answer is streamed to the client, so once
// its headers are out there is nothing left to retry; a failure after that point cuts the client
// connection (the client sees a broken answer, as it would from FRS itself).

import { Inject, Injectable, Logger } from '@nestjs/common';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { CONFIG, Config, isBillable } from '../config/config';
import { Clock } from '../common/clock';
import { classify, OperationSpec, UNKNOWN } from '../frs/operations';
import { errorCodeLabel, meterErrorBody, parseErrorCode } from '../frs/error-codes';
import { EMPTY_BODY_SHA256 } from '../frs/signer';
import { UpstreamAuth } from '../frs/upstream-auth';
import { AttemptOutcome, MetricsService, UNAUTHENTICATED_APP } from '../metrics/metrics.service';
import { AppsService, receivedBody } from '../apps/apps.service';
import { UsageService } from '../usage/usage.service';
import { QuotaService } from '../quota/quota.service';
import { Admission, BudgetRefusal, BudgetsService, BudgetTicket, isRefusal } from '../budgets/budgets.service';
import { LatencyTracker } from './latency-tracker';
import { TimeoutPolicy } from './timeout-policy';
import { NEVER_SENT_ERROR_CODES, RetryPolicy, connectionErrorCode } from './retry-policy';
import { RetryBudget } from './retry-budget';
import { ResponseSink, UpstreamClient, UpstreamResponse } from './upstream.client';
import { ProxyMetrics } from './proxy.metrics';
import { BodyPool, readBody } from './body-reader';

/** Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus ones we set. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length', 'expect']);
/** The same for answers, which keep their Content-Length: their bytes are passed on unchanged. */
const RESPONSE_HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
/** Client credentials that must never travel upstream; ours replace them. */
const CLIENT_AUTH = new Set(['authorization', 'x-auth-token', 'x-sdk-date', 'x-sdk-content-sha256', 'x-security-token', 'x-project-id']);
const JSON_TYPE = 'application/json;charset=UTF-8';

interface Attempted {
  readonly response?: UpstreamResponse;
  readonly outcome: AttemptOutcome;
  readonly errorCode?: string;
  /** For failures without a response: timeout vs connection error. */
  readonly failure?: 'timeout' | 'connection';
  /** The socket-level error code of a connection failure (ECONNREFUSED, UND_ERR_SOCKET, …). */
  readonly socketCode?: string;
  readonly upstreamSeconds: number;
}

/**
 * The client's response as the target of a streamed upstream answer: the upstream status and
 * headers (hop-by-hop ones dropped, our X-Request-Id added when FRS sent none), then the body
 * chunk by chunk with the client socket's backpressure passed back to undici.
 */
class ClientSink implements ResponseSink {
  started = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly requestId: string,
  ) {}

  start(statusCode: number, rawHeaders: readonly string[]): void {
    this.started = true;
    this.res.writeHead(statusCode, responseHeaders(rawHeaders, this.requestId));
  }

  write(chunk: Buffer, resume: () => void): boolean {
    const res = this.res;
    if (res.destroyed) return true; // the client left: let the answer drain
    if (res.write(chunk)) return true;
    res.once('drain', resume);
    return false;
  }

  end(): void {
    this.res.end();
  }
}

function responseHeaders(raw: readonly string[], requestId: string): string[] {
  const out: string[] = [];
  let hasRequestId = false;
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i].toLowerCase();
    if (RESPONSE_HOP_BY_HOP.has(lower)) continue;
    if (lower === 'x-request-id') hasRequestId = true;
    out.push(raw[i], raw[i + 1]);
  }
  if (!hasRequestId) out.push('X-Request-Id', requestId);
  return out;
}

/** FRS's X-Request-Id of an answer, else ours: the exemplar that leads from a latency spike to the call. */
function frsRequestId(res: UpstreamResponse, ours: string): string {
  const v = res.headers['x-request-id'];
  return typeof v === 'string' ? v : ours;
}

/** Whether verifying an AK/SK client needs the body's SHA-256 (it declared none, or a real one to check). */
function clientNeedsBodyHash(h: IncomingMessage['headers']): boolean {
  if (h['x-auth-token'] !== undefined || h.authorization === undefined) return false;
  return h['x-sdk-content-sha256'] !== 'UNSIGNED-PAYLOAD';
}

@Injectable()
export class ProxyService {
  private readonly logger = new Logger('Proxy');
  private readonly m: ProxyMetrics;
  private readonly bodies = new BodyPool();
  private readonly operations = new Map<string, Map<string, OperationSpec>>();
  private operationPaths = 0;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly clock: Clock,
    private readonly apps: AppsService,
    private readonly usage: UsageService,
    private readonly quota: QuotaService,
    private readonly upstream: UpstreamClient,
    private readonly upstreamAuth: UpstreamAuth,
    private readonly latency: LatencyTracker,
    private readonly timeouts: TimeoutPolicy,
    private readonly retry: RetryPolicy,
    private readonly budget: RetryBudget,
    metrics: MetricsService,
    private readonly budgets: BudgetsService,
  ) {
    this.m = new ProxyMetrics(metrics);
  }

  /** Body size limit for an operation, before any byte of the body is read. */
  bodyLimit(operation: OperationSpec): number {
    const limit = operation.carriesMedia ? this.config.limits.mediaBodyBytes : this.config.limits.otherBodyBytes;
    return this.upstreamAuth.mode === 'aksk' ? Math.min(limit, this.config.limits.akskBodyBytes) : limit;
  }

  /**
   * The operation a method and path are, remembered per path: an application calls a handful of
   * paths (its project and face sets) over and over. Bounded: past 4,096 paths it starts afresh.
   */
  private operationOf(method: string, path: string): OperationSpec {
    let byPath = this.operations.get(method);
    if (byPath === undefined) this.operations.set(method, (byPath = new Map()));
    let operation = byPath.get(path);
    if (operation === undefined) {
      operation = (classify(method, path) ?? { operation: UNKNOWN }).operation;
      if (++this.operationPaths > 4096) {
        this.operations.clear();
        this.operationPaths = 1;
        this.operations.set(method, (byPath = new Map()));
      }
      byPath.set(path, operation);
    }
    return operation;
  }

  /** Answers an error frs-meter decides itself (401, 413, 429, 502–504) and records it. */
  reject(res: ServerResponse, startNs: bigint, app: string, operation: OperationSpec, status: number, code: string, message: string, outcome: AttemptOutcome, requestId?: string, closeConnection = false): void {
    this.record(app, operation, status, code, outcome, startNs, 0, requestId);
    if (res.headersSent || res.destroyed) return;
    const body = meterErrorBody(code, message);
    const headers: OutgoingHttpHeaders = { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(body), 'x-request-id': requestId ?? randomUUID() };
    // An unread body is not drained: close the connection once the answer is out.
    if (closeConnection) headers.connection = 'close';
    res.writeHead(status, headers);
    res.end(body);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const held: { body?: Buffer } = {};
    try {
      await this.serve(req, res, held);
    } finally {
      // Only once every attempt is over: undici may be writing the body until then.
      if (held.body) this.bodies.release(held.body);
    }
  }

  private async serve(req: IncomingMessage, res: ServerResponse, held: { body?: Buffer }): Promise<void> {
    const startNs = process.hrtime.bigint();
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? '' : url.slice(q + 1);
    const operation = this.operationOf(method, path);
    const projectInPath = path.split('/', 3)[2];
    const h = req.headers;
    const clientRequestId = h['x-request-id'];
    const requestId = typeof clientRequestId === 'string' && clientRequestId !== '' ? clientRequestId : randomUUID();

    // Size: a declared length over the limit is refused before any body byte is read.
    const limit = this.bodyLimit(operation);
    const declared = h['content-length'];
    const length = declared !== undefined ? Number(declared) : h['transfer-encoding'] !== undefined ? -1 : 0;
    if (length > limit) {
      const app = this.apps.appForToken(h) ?? UNAUTHENTICATED_APP;
      return this.reject(res, startNs, app, operation, 413, 'METER.0413', `Request body of ${length} bytes is over the ${limit}-byte limit for ${operation.name}`, 'client_error', requestId, true);
    }
    const read = readBody(req, length, limit, this.upstreamAuth.needsBodyHash || clientNeedsBodyHash(h), this.bodies);
    const got = 'then' in read ? await read : read;
    if (got.ok) held.body = got.backing;
    if (!got.ok) {
      if (got.reason === 'aborted') return; // the client went away mid-body: there is no one to answer
      const app = this.apps.appForToken(h) ?? UNAUTHENTICATED_APP;
      return this.reject(res, startNs, app, operation, 413, 'METER.0413', `Request body is over the ${limit}-byte limit for ${operation.name}`, 'client_error', requestId, true);
    }
    const body = got.body;

    // Authenticate: a signed body is checked against the hash computed while it was read.
    const received = receivedBody(body, got.sha256);
    const who = this.apps.authenticate(method, path, query, h, received) ?? (await this.apps.authenticateAfterRefresh(method, path, query, h, received));
    if (!who || 'refused' in who) {
      const message = who?.refused ?? 'Missing or invalid application credentials: send X-Auth-Token with your frs-meter API key, or sign with your frs-meter AK/SK';
      return this.reject(res, startNs, UNAUTHENTICATED_APP, operation, 401, 'METER.0401', message, 'client_error', requestId);
    }
    const app = who.app;
    // Budget before QPS: a refused call takes no QPS slot. Each ticket is one reserved call of the
    // app's budget; it is settled once the call's fate is known (given back unless billed).
    let admission = this.admitBudget(app, operation);
    if (admission instanceof Promise) admission = await admission;
    if (isRefusal(admission)) return this.refuseBudget(res, startNs, app, operation, admission, requestId);
    const tickets: BudgetTicket[] = admission ? [admission] : [];
    const admitted = this.quota.admit(operation.name);
    if (admitted !== true && !(await admitted)) {
      this.settleBudget(tickets, false);
      return this.reject(res, startNs, app, operation, 429, 'METER.0429', `QPS quota for ${operation.name} reached; retry after a short wait`, 'throttled', requestId);
    }
    if (!this.config.upstream.endpoint) {
      this.settleBudget(tickets, false);
      return this.reject(res, startNs, app, operation, 503, 'METER.0503', 'No upstream configured', 'connection_error', requestId);
    }

    // Upstream request: the client's headers minus hop-by-hop and credentials, our credentials added.
    const headers: Record<string, string> = {};
    for (const name in h) {
      if (HOP_BY_HOP.has(name) || CLIENT_AUTH.has(name)) continue;
      const v = h[name];
      if (v !== undefined) headers[name] = Array.isArray(v) ? v.join(', ') : v;
    }
    headers['x-request-id'] = requestId;
    let upstreamPath = path;
    if (this.config.upstream.projectId && projectInPath) {
      upstreamPath = path.replace(`/${projectInPath}`, `/${encodeURIComponent(this.config.upstream.projectId)}`);
      headers['x-project-id'] = this.config.upstream.projectId;
    }
    const upstreamUrlPath = query ? `${upstreamPath}?${query}` : upstreamPath;
    const bodySha256 = got.sha256 ?? EMPTY_BODY_SHA256;
    this.budget.onRequest(this.clock.now());
    const sink = new ClientSink(res, requestId);

    let upstreamSeconds = 0;
    let last: Attempted | undefined;
    let authRetried = false;
    for (let attempt = 1; ; attempt++) {
      try {
        const applying = this.upstreamAuth.apply(method, upstreamPath, query, headers, bodySha256);
        if (applying) await applying;
      } catch (err) {
        this.logger.error(`upstream credentials unavailable: ${(err as Error).message}`);
        this.settleBudget(tickets, false);
        return this.reject(res, startNs, app, operation, 503, 'METER.0503', 'Upstream credentials unavailable (IAM token could not be obtained)', 'connection_error', requestId);
      }
      last = await this.attempt(app, operation, method, upstreamUrlPath, headers, body, sink);
      upstreamSeconds += last.upstreamSeconds;
      // The answer's head is already with the client: nothing can be retried or re-answered.
      if (sink.started) break;

      const status = last.response?.statusCode ?? 0;
      if (!authRetried && last.response && this.retry.isAuthExpired(status, last.errorCode) && this.upstreamAuth.mode === 'iam') {
        // The rejected attempt was not processed, so even face_add may go again — once.
        authRetried = true;
        this.upstreamAuth.invalidate();
        attempt--; // the refused attempt does not use up a retry
        continue;
      }
      if (last.outcome === 'success') break;
      const decision = this.retry.decide(operation, attempt, last.outcome, last.socketCode ?? last.errorCode);
      if (!decision.retry || !this.budget.tryAcquire(this.clock.now())) break;
      if (tickets.length > 0 && last.outcome === 'timeout') {
        // The cut attempt may have been billed and keeps its reservation: the retry needs its own.
        const more = await this.admitBudget(app, operation);
        if (!more || isRefusal(more)) break;
        tickets.push(more);
      }
      const wait = this.retry.backoffMs(attempt, last.outcome);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      // A retry is one more call against the QPS quota: shaped like the first attempt.
      const again = this.quota.admit(operation.name);
      if (again !== true && !(await again)) break;
    }

    // Billed (success, or a 2xx already streaming to the client) or possibly billed (cut at the
    // timeout): the reservation is kept.
    this.settleBudget(tickets, sink.started || last.outcome === 'success' || last.outcome === 'timeout');
    const upstreamRes = last.response;
    if (sink.started) {
      // Streamed: answered already (or cut mid-answer, which only closing the socket can tell).
      if (!upstreamRes) res.destroy();
      this.record(app, operation, upstreamRes?.statusCode ?? 502, last.errorCode, last.outcome, startNs, upstreamSeconds, upstreamRes ? frsRequestId(upstreamRes, requestId) : requestId);
      return;
    }
    if (!upstreamRes) {
      const timedOut = last.failure === 'timeout';
      return this.reject(
        res,
        startNs,
        app,
        operation,
        timedOut ? 504 : 502,
        timedOut ? 'METER.0504' : 'METER.0502',
        timedOut ? `Upstream did not answer ${operation.name} in time` : `Upstream connection failed for ${operation.name}`,
        last.outcome,
        requestId,
      );
    }
    // An error answer, buffered: pass it on as FRS sent it.
    this.record(app, operation, upstreamRes.statusCode, last.errorCode, last.outcome, startNs, upstreamSeconds, frsRequestId(upstreamRes, requestId));
    if (res.destroyed) return;
    res.writeHead(upstreamRes.statusCode, responseHeaders(upstreamRes.rawHeaders, requestId));
    res.end(upstreamRes.body);
  }

  private admitBudget(app: string, operation: OperationSpec): Admission | Promise<Admission> {
    return this.budgets.admit(app, operation.name);
  }

  /** The last ticket belongs to the last attempt; earlier ones to cut attempts, which keep theirs. */
  private settleBudget(tickets: readonly BudgetTicket[], kept: boolean): void {
    if (tickets.length > 0) this.budgets.settle(tickets[tickets.length - 1], kept);
  }

  /**
   * 402 METER.0402: the call would pass a block budget. 402 rather than 429 or 5xx because SDKs
   * and HTTP clients retry those in a loop, and waiting does not help until the month resets (or
   * the budget is raised); no SDK retries a 402. The body names the budget, what is used and when
   * it resets.
   */
  private refuseBudget(res: ServerResponse, startNs: bigint, app: string, operation: OperationSpec, r: BudgetRefusal, requestId: string): void {
    this.record(app, operation, r.status, r.code, 'client_error', startNs, 0);
    const body = JSON.stringify({ error_code: r.code, error_msg: r.message, budget: r.budget });
    res.writeHead(r.status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(body), 'x-request-id': requestId });
    res.end(body);
  }

  /** One upstream attempt, counted once whatever happens. */
  private async attempt(app: string, operation: OperationSpec, method: string, path: string, headers: Record<string, string>, body: Buffer, sink: ResponseSink): Promise<Attempted> {
    const now = this.clock.now();
    const timeoutMs = this.timeouts.timeoutMs(operation.name, now);
    const t0 = process.hrtime.bigint();
    let result: Attempted;
    try {
      const response = await this.upstream.send(method, path, headers, body.length > 0 ? body : undefined, timeoutMs, sink);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const status = response.statusCode;
      const errorCode = status >= 400 && response.body ? parseErrorCode(response.body) : undefined;
      const outcome: AttemptOutcome = status < 400 ? 'success' : status === 429 ? 'throttled' : status < 500 ? 'client_error' : 'server_error';
      // A completed attempt is a latency sample; an abandoned one is not (it would feed its own timeout).
      this.latency.record(operation.name, seconds, now);
      this.m.rateLimit(operation.name, response.headers);
      result = { response, outcome, errorCode, upstreamSeconds: seconds };
    } catch (err) {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const failure = UpstreamClient.isTimeout(err) ? 'timeout' : 'connection';
      // Cut attempts are no latency sample, but many of them mean FRS as a whole got slower.
      if (failure === 'timeout') this.latency.recordTimeout(operation.name, now);
      result = { outcome: failure === 'timeout' ? 'timeout' : 'connection_error', failure, socketCode: connectionErrorCode(err), upstreamSeconds: seconds };
    }
    const billable = result.outcome === 'success' && isBillable(this.config, operation.name);
    // Cut after the request was sent (timeout, connection lost): FRS may have completed and billed
    // it. A connection never made (refused, DNS) cannot have been billed.
    const possiblyBilled = !result.response && isBillable(this.config, operation.name) && (result.failure === 'timeout' || !NEVER_SENT_ERROR_CODES.has(result.socketCode ?? ''));
    this.m.attempt(operation.name, result.outcome, result.upstreamSeconds);
    if (billable) this.m.billable(app, operation.name);
    if (possiblyBilled) this.m.possiblyBilled(operation.name);
    // Over the QPS package's rate in this sliding second: FRS bills it on demand, not from the package.
    const overQps = this.quota.recordAttempt(operation.name, now);
    if (overQps && billable) this.m.qpsOverflow(operation.name);
    this.usage.buffer.recordAttempt(now, app, operation.name, result.response?.statusCode ?? 0, errorCodeLabel(result.errorCode), result.outcome, billable, possiblyBilled, overQps);
    return result;
  }

  private record(app: string, operation: OperationSpec, status: number, errorCode: string | undefined, outcome: AttemptOutcome, startNs: bigint, upstreamSeconds: number, requestId?: string): void {
    const seconds = Number(process.hrtime.bigint() - startNs) / 1e9;
    const label = errorCodeLabel(errorCode);
    this.m.request(app, operation.name, status, label, outcome, seconds, upstreamSeconds, requestId);
    this.usage.buffer.recordRequest(this.clock.now(), app, operation.name, status, label, outcome);
  }
}
