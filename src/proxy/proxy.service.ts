// The hot path: classify → authenticate the app → check size → admit (QPS) → forward with
// timeouts and safe retries → record. Bodies are forwarded as the bytes received and never
// parsed; only small upstream error bodies are read for their error_code. Nothing here touches
// the database: usage goes to the in-memory buffer and is flushed in batches.

import { Inject, Injectable, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import { CONFIG, Config, isBillable } from '../config/config';
import { Clock } from '../common/clock';
import { Classified, classify, OperationSpec, UNKNOWN } from '../frs/operations';
import { errorCodeLabel, meterErrorBody, parseErrorCode } from '../frs/error-codes';
import { EMPTY_BODY_SHA256, sha256Hex } from '../frs/signer';
import { UpstreamAuth } from '../frs/upstream-auth';
import { AttemptOutcome, MetricsService, UNAUTHENTICATED_APP } from '../metrics/metrics.service';
import { AppsService, receivedBody } from '../apps/apps.service';
import { UsageService } from '../usage/usage.service';
import { QuotaService } from '../quota/quota.service';
import { Admission, BudgetRefusal, BudgetsService, BudgetTicket, isRefusal } from '../budgets/budgets.service';
import { LatencyTracker } from './latency-tracker';
import { TimeoutPolicy } from './timeout-policy';
import { RetryPolicy, connectionErrorCode } from './retry-policy';
import { RetryBudget } from './retry-budget';
import { UpstreamClient, UpstreamResponse } from './upstream.client';
import { ProxyMetrics } from './proxy.metrics';

/** Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus ones we set. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length']);
/** Client credentials that must never travel upstream; ours replace them. */
const CLIENT_AUTH = new Set(['authorization', 'x-auth-token', 'x-sdk-date', 'x-sdk-content-sha256', 'x-security-token', 'x-project-id']);
const EMPTY = Buffer.alloc(0);

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

@Injectable()
export class ProxyService {
  private readonly logger = new Logger('Proxy');
  private readonly m: ProxyMetrics;

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

  classify(method: string, url: string): Classified {
    const q = url.indexOf('?');
    return classify(method, q < 0 ? url : url.slice(0, q)) ?? { operation: UNKNOWN };
  }

  /** Answers an error frs-meter decides itself (401, 413, 429, 502–504) and records it. */
  reject(reply: FastifyReply, startNs: bigint, app: string, operation: OperationSpec, status: number, code: string, message: string, outcome: AttemptOutcome, requestId?: string): FastifyReply {
    this.record(app, operation, status, code, outcome, startNs, 0, requestId);
    return reply
      .code(status)
      .header('content-type', 'application/json;charset=UTF-8')
      .header('x-request-id', requestId ?? randomUUID())
      .send(meterErrorBody(code, message));
  }

  async handle(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const startNs = process.hrtime.bigint();
    const method = req.method;
    const url = req.url;
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? '' : url.slice(q + 1);
    const operation = (classify(method, path) ?? { operation: UNKNOWN }).operation;
    const projectInPath = path.split('/', 3)[2];
    const body = Buffer.isBuffer(req.body) ? req.body : EMPTY;
    const clientRequestId = req.headers['x-request-id'];
    const requestId = typeof clientRequestId === 'string' && clientRequestId !== '' ? clientRequestId : randomUUID();

    // Authenticate: a signed body is checked against the hash of the bytes received (once, lazily).
    const received = receivedBody(body);
    const who = this.apps.authenticate(method, path, query, req.headers, received) ?? (await this.apps.authenticateAfterRefresh(method, path, query, req.headers, received));
    if (!who || 'refused' in who) {
      const message = who?.refused ?? 'Missing or invalid application credentials: send X-Auth-Token with your frs-meter API key, or sign with your frs-meter AK/SK';
      return this.reject(reply, startNs, UNAUTHENTICATED_APP, operation, 401, 'METER.0401', message, 'client_error', requestId);
    }
    const app = who.app;
    if (body.length > this.bodyLimit(operation)) {
      return this.reject(reply, startNs, app, operation, 413, 'METER.0413', `Request body of ${body.length} bytes is over the ${this.bodyLimit(operation)}-byte limit for ${operation.name}`, 'client_error', requestId);
    }
    // Budget before QPS: a refused call takes no QPS slot. Each ticket is one reserved call of the
    // app's budget; it is settled once the call's fate is known (given back unless billed).
    let admission = this.admitBudget(app, operation);
    if (admission instanceof Promise) admission = await admission;
    if (isRefusal(admission)) return this.refuseBudget(reply, startNs, app, operation, admission, requestId);
    const tickets: BudgetTicket[] = admission ? [admission] : [];
    const admitted = this.quota.admit(operation.name);
    if (admitted !== true && !(await admitted)) {
      this.settleBudget(tickets, false);
      return this.reject(reply, startNs, app, operation, 429, 'METER.0429', `QPS quota for ${operation.name} reached; retry after a short wait`, 'throttled', requestId);
    }
    if (!this.config.upstream.endpoint) {
      this.settleBudget(tickets, false);
      return this.reject(reply, startNs, app, operation, 503, 'METER.0503', 'No upstream configured', 'connection_error', requestId);
    }

    // Upstream request: the client's headers minus hop-by-hop and credentials, our credentials added.
    const headers: Record<string, string> = {};
    for (const name of Object.keys(req.headers)) {
      if (HOP_BY_HOP.has(name) || CLIENT_AUTH.has(name)) continue;
      const v = req.headers[name];
      if (v !== undefined) headers[name] = Array.isArray(v) ? v.join(', ') : v;
    }
    headers['x-request-id'] = requestId;
    let upstreamPath = path;
    if (this.config.upstream.projectId && projectInPath) {
      upstreamPath = path.replace(`/${projectInPath}`, `/${encodeURIComponent(this.config.upstream.projectId)}`);
      headers['x-project-id'] = this.config.upstream.projectId;
    }
    const upstreamUrlPath = query ? `${upstreamPath}?${query}` : upstreamPath;
    const bodySha256 = this.upstreamAuth.needsBodyHash ? (who.bodySha256 ?? (body.length > 0 ? sha256Hex(body) : EMPTY_BODY_SHA256)) : EMPTY_BODY_SHA256;
    this.budget.onRequest(this.clock.now());

    let upstreamSeconds = 0;
    let last: Attempted | undefined;
    let authRetried = false;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.upstreamAuth.apply(method, upstreamPath, query, headers, bodySha256);
      } catch (err) {
        this.logger.error(`upstream credentials unavailable: ${(err as Error).message}`);
        this.settleBudget(tickets, false);
        return this.reject(reply, startNs, app, operation, 503, 'METER.0503', 'Upstream credentials unavailable (IAM token could not be obtained)', 'connection_error', requestId);
      }
      last = await this.attempt(app, operation, method, upstreamUrlPath, headers, body);
      upstreamSeconds += last.upstreamSeconds;

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

    // Billed (success) or possibly billed (cut at the timeout): the reservation is kept.
    this.settleBudget(tickets, last.outcome === 'success' || last.outcome === 'timeout');
    const res = last.response;
    if (!res) {
      const timedOut = last.failure === 'timeout';
      return this.reject(
        reply,
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
    const frsRequestId = res.headers['x-request-id'];
    this.record(app, operation, res.statusCode, last.errorCode, last.outcome, startNs, upstreamSeconds, typeof frsRequestId === 'string' ? frsRequestId : requestId);
    for (const name of Object.keys(res.headers)) {
      if (HOP_BY_HOP.has(name)) continue;
      const v = res.headers[name];
      if (v !== undefined) reply.header(name, v);
    }
    if (res.headers['x-request-id'] === undefined) reply.header('x-request-id', requestId);
    return reply.code(res.statusCode).send(res.body);
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
  private refuseBudget(reply: FastifyReply, startNs: bigint, app: string, operation: OperationSpec, r: BudgetRefusal, requestId: string): FastifyReply {
    this.record(app, operation, r.status, r.code, 'client_error', startNs, 0);
    return reply
      .code(r.status)
      .header('content-type', 'application/json;charset=UTF-8')
      .header('x-request-id', requestId)
      .send(JSON.stringify({ error_code: r.code, error_msg: r.message, budget: r.budget }));
  }

  /** One upstream attempt, counted once whatever happens. */
  private async attempt(app: string, operation: OperationSpec, method: string, path: string, headers: Record<string, string>, body: Buffer): Promise<Attempted> {
    const now = this.clock.now();
    const timeoutMs = this.timeouts.timeoutMs(operation.name, now);
    const t0 = process.hrtime.bigint();
    let result: Attempted;
    try {
      const response = await this.upstream.send(method, path, headers, body.length > 0 ? body : undefined, timeoutMs);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const status = response.statusCode;
      const errorCode = status >= 400 ? parseErrorCode(response.body) : undefined;
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
    this.m.attempt(operation.name, result.outcome, result.upstreamSeconds);
    if (billable) this.m.billable(app, operation.name);
    this.quota.recordAttempt(operation.name, now);
    this.usage.buffer.recordAttempt(now, app, operation.name, result.response?.statusCode ?? 0, errorCodeLabel(result.errorCode), result.outcome, billable);
    return result;
  }

  private record(app: string, operation: OperationSpec, status: number, errorCode: string | undefined, outcome: AttemptOutcome, startNs: bigint, upstreamSeconds: number, requestId?: string): void {
    const seconds = Number(process.hrtime.bigint() - startNs) / 1e9;
    const label = errorCodeLabel(errorCode);
    this.m.request(app, operation.name, status, label, outcome, seconds, upstreamSeconds, requestId);
    this.usage.buffer.recordRequest(this.clock.now(), app, operation.name, status, label, outcome);
  }
}
