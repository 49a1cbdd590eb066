// Huawei BSS (billing) API client on undici (billing-api.md): AK/SK signing with the project's
// signer or a domain-scoped IAM token, X-Language on every call, offset/limit pagination to
// total_count, a client-side cap of N requests per second, and backoff + retry on 429,
// CBC.0250 and 5xx. BSS reports some errors with HTTP 200 and an error_code body (§3), so every
// answer's body is checked, not only its status. Bodies are parsed with numbers kept as text
// (money.ts), so amounts never pass through a float.

import { Agent, Dispatcher, request } from 'undici';
import { performance } from 'node:perf_hooks';
import { Logger } from '@nestjs/common';
import { UpstreamAuth } from '../config/config';
import { Clock } from '../common/clock';
import { signRequest } from '../frs/signer';
import { parseJsonExact, toInt } from './money';

export type JsonObject = Record<string, unknown>;

export interface BssClientOptions {
  readonly endpoint: string;
  readonly auth: UpstreamAuth;
  readonly language: 'zh_CN' | 'en_US';
  readonly requestsPerSecond: number;
  readonly maxAttempts: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly timeoutMs: number;
  readonly clock: Clock;
  readonly tlsRejectUnauthorized?: boolean;
  /** Waits between attempts and for the rate limit; unit specs replace it. */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Codes that mean "slow down" whatever the HTTP status (billing-api.md §2.7, §3). */
const THROTTLE_CODES = new Set(['CBC.0250', 'CBC.99007197']);
const TOKEN_EXPIRED_CODES = new Set(['CBC.0154']);
/** The page size BSS allows for the list APIs we call (§2.7). */
export const PAGE_LIMIT = 1000;
export const COST_CENTER_PATH = '/v4/costs/cost-analysed-bills/query';
/** ListFreeResourceUsages takes at most 100 item ids per call (§6.4). */
export const USAGE_IDS_PER_CALL = 100;

export class BssError extends Error {
  /** From a Retry-After header, when the server sent one. */
  retryAfterMs?: number;

  constructor(
    readonly method: string,
    readonly path: string,
    /** HTTP status, 0 when no answer arrived. */
    readonly status: number,
    readonly errorCode: string,
    readonly errorMsg: string,
    readonly retryable: boolean,
    readonly requestId?: string,
  ) {
    super(`BSS ${method} ${path}: ${status || 'no answer'} ${errorCode} ${errorMsg}`.trim());
    this.name = 'BssError';
  }
}

/**
 * At most `capacity` requests per `windowMs` as the server counts them. The server counts
 * arrivals, which the client cannot see; it only knows that a request arrived before its answer
 * came back. So a finished request is stamped with the time its answer arrived, a request still
 * in flight holds its slot, and a new request starts only when fewer than `capacity` requests
 * are in flight or answered within the last window. That holds whatever the network delays.
 */
export class RateLimiter {
  private readonly capacity: number;
  private readonly windowMs: number;
  /** Answer times of finished requests, oldest first. */
  private readonly stamps: number[] = [];
  private inFlight = 0;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    requestsPerSecond: number,
    private readonly sleep: (ms: number) => Promise<void>,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.capacity = Math.max(1, Math.floor(requestsPerSecond));
    this.windowMs = (this.capacity * 1000) / requestsPerSecond;
  }

  /** Resolves when one more request may start, with the function to call when its answer arrived. Callers are served in order. */
  acquire(): Promise<() => void> {
    const turn = this.chain.then(() => this.take());
    this.chain = turn.catch(() => undefined);
    return turn;
  }

  private async take(): Promise<() => void> {
    for (;;) {
      const t = this.now();
      while (this.stamps.length > 0 && this.stamps[0] <= t - this.windowMs) this.stamps.shift();
      if (this.stamps.length + this.inFlight < this.capacity) {
        this.inFlight++;
        let released = false;
        return () => {
          if (released) return;
          released = true;
          this.inFlight--;
          this.stamps.push(this.now());
          this.stamps.sort((a, b) => a - b);
        };
      }
      // Wait for the oldest answer to leave the window, or for a request in flight to finish.
      await this.sleep(this.stamps.length > 0 ? this.stamps[0] + this.windowMs - t + 1 : 5);
    }
  }
}

interface IamToken {
  readonly value: string;
  readonly expiresAt: number;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

export class BssClient {
  private readonly logger = new Logger('BssClient');
  private readonly agent: Dispatcher;
  private readonly limiter: RateLimiter;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly base: URL;
  private token?: IamToken;
  private tokenFetch?: Promise<IamToken>;
  /** Calls sent (every attempt) and retries, for tests and logs. */
  readonly stats = { requests: 0, retries: 0 };

  constructor(private readonly opts: BssClientOptions) {
    this.sleep = opts.sleep ?? defaultSleep;
    this.limiter = new RateLimiter(opts.requestsPerSecond, this.sleep);
    this.base = new URL(opts.endpoint);
    this.agent = new Agent({
      keepAliveTimeout: 30_000,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      connect: { timeout: Math.min(opts.timeoutMs, 10_000), rejectUnauthorized: opts.tlsRejectUnauthorized ?? true },
    });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /**
   * One BSS call with retries. Returns the parsed body (numbers as strings). Throws BssError
   * for an error answer (also when it came with HTTP 200) once retries are used up or when it
   * is not worth retrying.
   */
  async call(method: 'GET' | 'POST', path: string, opts: { query?: Record<string, string | number | undefined>; body?: unknown } = {}): Promise<JsonObject> {
    const query = buildQuery(opts.query);
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    let tokenRefreshed = false;
    for (let attempt = 1; ; attempt++) {
      let err: BssError;
      try {
        return await this.once(method, path, query, body);
      } catch (e) {
        err = e instanceof BssError ? e : new BssError(method, path, 0, 'METER.BSS', (e as Error).message, true);
      }
      // An expired token is replaced once right away; it says nothing about BSS's health.
      if (TOKEN_EXPIRED_CODES.has(err.errorCode) && this.opts.auth.kind === 'iam' && !tokenRefreshed) {
        tokenRefreshed = true;
        this.token = undefined;
        this.logger.warn(`BSS token rejected (${err.errorCode}); fetching a new one`);
        attempt--;
        continue;
      }
      if (!err.retryable || attempt >= this.opts.maxAttempts) throw err;
      const delay = this.backoff(attempt, err);
      this.stats.retries++;
      this.logger.warn(`${err.message}; retry ${attempt}/${this.opts.maxAttempts - 1} in ${delay} ms`);
      await this.sleep(delay);
    }
  }

  /** Every page of a list API: `limit`=1000 and `offset` stepped until `total_count` rows are in. */
  async paginate(
    method: 'GET' | 'POST',
    path: string,
    listKey: string,
    opts: { query?: Record<string, string | number | undefined>; body?: JsonObject },
  ): Promise<{ first: JsonObject; items: JsonObject[] }> {
    const items: JsonObject[] = [];
    let first: JsonObject | undefined;
    let total: number | undefined;
    for (let offset = 0; ; ) {
      const page =
        method === 'GET'
          ? await this.call(method, path, { query: { ...opts.query, offset, limit: PAGE_LIMIT } })
          : await this.call(method, path, { query: opts.query, body: { ...opts.body, offset, limit: PAGE_LIMIT } });
      first ??= page;
      const pageTotal = toInt(page.total_count, `${path} total_count`) ?? 0;
      if (total !== undefined && pageTotal !== total) {
        throw new BssError(method, path, 200, 'METER.BSS_CHANGED', `total_count changed from ${total} to ${pageTotal} during pagination`, true);
      }
      total = pageTotal;
      const list = page[listKey] ?? [];
      if (!Array.isArray(list)) throw new BssError(method, path, 200, 'METER.BSS_SHAPE', `${listKey} is not a list`, false);
      items.push(...(list as JsonObject[]));
      offset += list.length;
      if (items.length >= total) break;
      if (list.length === 0) {
        throw new BssError(method, path, 200, 'METER.BSS_SHORT', `empty page at offset ${offset} before total_count ${total}`, true);
      }
    }
    return { first: first ?? {}, items };
  }

  /** GET /v2/products/service-types with a fuzzy name filter (§2.5). */
  async serviceTypes(name: string): Promise<JsonObject[]> {
    return (await this.paginate('GET', '/v2/products/service-types', 'service_types', { query: { service_type_name: name } })).items;
  }

  /** GET /v2/bills/customer-bills/monthly-sum for one cycle and service (§1). */
  async monthlySum(billCycle: string, serviceTypeCode: string): Promise<{ first: JsonObject; items: JsonObject[] }> {
    return this.paginate('GET', '/v2/bills/customer-bills/monthly-sum', 'bill_sums', {
      query: { bill_cycle: billCycle, service_type_code: serviceTypeCode, method: 'all' },
    });
  }

  /** GET /v2/bills/customer-bills/res-fee-records: 1 = one row per resource and cycle, 3 = detail (§2.2). */
  async resFeeRecords(cycle: string, serviceTypeCode: string, statisticType: 1 | 3): Promise<{ first: JsonObject; items: JsonObject[] }> {
    return this.paginate('GET', '/v2/bills/customer-bills/res-fee-records', 'fee_records', {
      query: { cycle, cloud_service_type: serviceTypeCode, statistic_type: statisticType, include_zero_record: 'true', method: 'all' },
    });
  }

  /** POST /v3/payments/free-resources/query: the resource packages of a service (§6.2). */
  async freeResourcePackages(serviceTypeCode: string): Promise<JsonObject[]> {
    return (await this.paginate('POST', '/v3/payments/free-resources/query', 'free_resource_packages', { body: { service_type_code_list: [serviceTypeCode] } })).items;
  }

  /** POST /v2/payments/free-resources/usages/details/query in batches of 100 ids (§6.4). */
  async freeResourceUsages(ids: readonly string[]): Promise<JsonObject[]> {
    const out: JsonObject[] = [];
    for (let i = 0; i < ids.length; i += USAGE_IDS_PER_CALL) {
      const page = await this.call('POST', '/v2/payments/free-resources/usages/details/query', { body: { free_resource_ids: ids.slice(i, i + USAGE_IDS_PER_CALL) } });
      const list = page.free_resources ?? [];
      if (!Array.isArray(list)) throw new BssError('POST', '/v2/payments/free-resources/usages/details/query', 200, 'METER.BSS_SHAPE', 'free_resources is not a list', false);
      out.push(...(list as JsonObject[]));
    }
    return out;
  }

  /**
   * POST /v4/costs/cost-analysed-bills/query (Cost Center ListCosts, billing-api.md §8): daily
   * (time_measure_id 1) original costs of one service between two local dates, inclusive,
   * grouped by one dimension; every page of `cost_data` (limit 1000, offset paging).
   */
  async dailyCosts(beginDate: string, endDate: string, serviceTypeCode: string, groupBy: string): Promise<{ first: JsonObject; items: JsonObject[] }> {
    return this.paginate('POST', COST_CENTER_PATH, 'cost_data', {
      body: {
        time_condition: { time_measure_id: 1, begin_time: beginDate, end_time: endDate },
        groupby: [{ type: 'dimension', key: groupBy }],
        filters: [{ operator: 0, filter_factor: { key: 'CLOUD_SERVICE_TYPE', value: [serviceTypeCode] } }],
        // The reference says ORIGINAL_COST; the SDK's model says UNBLENDED_COST for the same thing.
        cost_type: 'ORIGINAL_COST',
        amount_type: 'PAYMENT_AMOUNT',
      },
    });
  }

  private backoff(attempt: number, err: BssError): number {
    const exp = Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** (attempt - 1));
    // Equal jitter: at least half the step, so a throttled client really slows down.
    const jittered = exp / 2 + Math.random() * (exp / 2);
    const floor = Math.min(this.opts.backoffMaxMs, err.retryAfterMs ?? 0);
    return Math.round(Math.max(jittered, floor));
  }

  private async once(method: string, path: string, query: string, body: string | undefined): Promise<JsonObject> {
    const url = new URL(this.base.toString());
    url.pathname = joinPath(this.base.pathname, path);
    url.search = query;
    const headers: Record<string, string> = {
      host: url.host,
      'content-type': 'application/json',
      'x-language': this.opts.language,
    };
    const auth = this.opts.auth;
    if (auth.kind === 'iam') headers['x-auth-token'] = (await this.iamToken()).value;
    const answered = await this.limiter.acquire();
    // Signed after the wait, so X-Sdk-Date is the time the request really leaves.
    if (auth.kind === 'aksk') {
      Object.assign(headers, signRequest({ method, path: url.pathname, query, headers, body }, { ak: auth.ak, sk: auth.sk }, this.opts.clock.date()));
    }
    this.stats.requests++;
    let status: number;
    let text: string;
    let requestId: string | undefined;
    let retryAfter: string | undefined;
    try {
      const res = await request(url, { method: method as Dispatcher.HttpMethod, headers, body, dispatcher: this.agent });
      answered();
      status = res.statusCode;
      requestId = headerString(res.headers['x-request-id']);
      retryAfter = headerString(res.headers['retry-after']);
      text = await res.body.text();
    } catch (e) {
      answered();
      const code = (e as { code?: string }).code ?? 'connection_error';
      throw new BssError(method, path, 0, 'METER.BSS_NETWORK', `${code}: ${(e as Error).message}`, true);
    }
    let parsed: unknown;
    try {
      parsed = text === '' ? {} : parseJsonExact(text);
    } catch {
      throw withRetryAfter(new BssError(method, path, status, 'METER.BSS_BODY', `answer is not JSON (${text.slice(0, 80)})`, status >= 500 || status === 429 || status === 200, requestId), retryAfter);
    }
    const obj = isObject(parsed) ? parsed : {};
    const code = typeof obj.error_code === 'string' ? obj.error_code : typeof obj.code === 'string' ? obj.code : undefined;
    const msg = typeof obj.error_msg === 'string' ? obj.error_msg : typeof obj.message === 'string' ? obj.message : '';
    const ok = status >= 200 && status < 300 && (code === undefined || code === 'CBC.0000');
    if (ok) {
      if (!isObject(parsed)) throw new BssError(method, path, status, 'METER.BSS_SHAPE', 'answer is not a JSON object', false, requestId);
      return parsed;
    }
    const errorCode = code ?? `HTTP.${status}`;
    const retryable = status === 429 || status >= 500 || THROTTLE_CODES.has(errorCode) || errorCode === 'CBC.0999';
    throw withRetryAfter(new BssError(method, path, status, errorCode, msg, retryable, requestId), retryAfter);
  }

  /** A domain-scoped IAM token (BSS is global), cached until `refreshMarginSeconds` before expiry. */
  private async iamToken(): Promise<IamToken> {
    const auth = this.opts.auth;
    if (auth.kind !== 'iam') throw new Error('iamToken: not IAM auth');
    const marginMs = auth.refreshMarginSeconds * 1000;
    if (this.token && this.opts.clock.now() < this.token.expiresAt - marginMs) return this.token;
    this.tokenFetch ??= this.fetchToken(auth).finally(() => (this.tokenFetch = undefined));
    this.token = await this.tokenFetch;
    return this.token;
  }

  private async fetchToken(auth: Extract<UpstreamAuth, { kind: 'iam' }>): Promise<IamToken> {
    const url = new URL(auth.endpoint);
    url.pathname = joinPath(url.pathname, '/v3/auth/tokens');
    const body = JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: auth.username, password: auth.password, domain: { name: auth.domainName } } } },
        scope: { domain: { name: auth.domainName } },
      },
    });
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, { method: 'POST', headers: { 'content-type': 'application/json;charset=utf8' }, body, dispatcher: this.agent });
    } catch (e) {
      throw new BssError('POST', '/v3/auth/tokens', 0, 'METER.IAM_NETWORK', (e as Error).message, true);
    }
    const text = await res.body.text();
    const token = headerString(res.headers['x-subject-token']);
    if (res.statusCode !== 201 || !token) {
      // The body may echo the user name; the password is never in it. Keep the message short.
      throw new BssError('POST', '/v3/auth/tokens', res.statusCode, 'METER.IAM', `IAM token request failed: ${text.slice(0, 200)}`, res.statusCode >= 500 || res.statusCode === 429);
    }
    let expiresAt = this.opts.clock.now() + 3600_000;
    try {
      const parsed = JSON.parse(text) as { token?: { expires_at?: string } };
      const t = parsed.token?.expires_at ? Date.parse(parsed.token.expires_at) : NaN;
      if (Number.isFinite(t)) expiresAt = t;
    } catch {
      // Without a readable expires_at the token is used for an hour, then fetched again.
    }
    return { value: token, expiresAt };
  }
}

function withRetryAfter(err: BssError, retryAfter: string | undefined): BssError {
  const s = retryAfter === undefined ? NaN : Number(retryAfter);
  if (Number.isFinite(s) && s >= 0) err.retryAfterMs = s * 1000;
  return err;
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function headerString(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function joinPath(basePath: string, path: string): string {
  return basePath.replace(/\/+$/, '') + path;
}

/** `k=v&…` with RFC 3986 escaping (space as %20), keys in the order given, undefined values left out. */
export function buildQuery(q: Record<string, string | number | undefined> | undefined): string {
  if (!q) return '';
  return Object.entries(q)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${rfc3986(k)}=${rfc3986(String(v))}`)
    .join('&');
}

function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}
