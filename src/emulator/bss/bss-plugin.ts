// The BSS (billing) API of the bundled emulator, as an emulator plugin: monthly summary,
// per-resource records, resource packages and their usage, and the service-types dictionary
// (billing-api.md §1, §2.2, §2.5, §6), billed from what the emulator actually served. It checks
// credentials like BSS (AK/SK, or a domain-scoped token), enforces BSS's 10 requests/s per API,
// logs every request with its arrival time (tests measure the client's rate from it), and has
// its own faults: throttling (429 CBC.0250), an expired token (CBC.0154), an error carried by
// HTTP 200, and 5xx on a chosen page. Control: /__bss/{faults,settings,requests}.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { MONTH_RE } from '../../common/billing-month';
import { OPERATION_NAMES, OperationName } from '../../frs/operations';
import { EMULATOR_SERVICE_TYPE_CODE } from '../../billing/operation-map';
import { Money, canonical } from '../../billing/money';
import { FreeScope, QpsPackageRule, checkPrices } from './bss-rules';
import type { EmulatorContext, EmulatorPlugin } from '../plugin';
import { BillingRules, CALLS_MEASURE_ID, COST_CENTER_DIMENSIONS, CostDimension, EMULATOR_REGION, EmulatedPackage, MonthBill, ResRecord, ServedCall, costAnalysis, defaultRules, monthBill, packageStates } from './bss-billing';

export const BSS_CONTROL_PREFIX = '/__bss/';
const LOG_LIMIT = 10_000;

export type BssFaultKind = 'throttle' | 'token_expired' | 'error_200' | 'server_error';

export interface BssFault {
  readonly kind: BssFaultKind;
  /** Only requests whose path starts with this (default: every BSS API). */
  readonly path?: string;
  /** Only this page (1-based, from offset and limit) of a list API. */
  readonly page?: number;
  /** How many matching requests get the fault; 0 = every one until cleared (default 1). */
  readonly times?: number;
  /** error_code of an error_200 (default CBC.3005) or server_error (default CBC.0999). */
  readonly code?: string;
  /** HTTP status of a server_error (default 500). */
  readonly status?: number;
}

/** How amounts go on the wire: JSON numbers, strings, or numbers in summaries and strings in records. */
export type AmountFormat = 'number' | 'string' | 'mixed';

export interface BssPluginOptions {
  /** Price tiers {currency, operations: {op or "*": [{upTo, unitPrice}]}}, priced by the emulator's own code; default: made-up example prices. */
  prices?: unknown;
  /** Free calls per month and scope (default 2000). */
  freeCalls?: number;
  /** Who shares the free calls (default per_account, as Huawei's billing page says). */
  freeScope?: FreeScope;
  /** per_sub_service: operation → group, as the test states it. */
  freeGroups?: Record<string, string>;
  /** Operations without free calls (default live_detect and live_detect_face). */
  freeExcluded?: string[];
  /** Operations whose valid answers are billed (default: SPEC §2's billed operations, written out in bss-rules.ts). */
  billable?: string[];
  /** HTTP statuses that make a valid (billed) call (default: every 2xx). */
  billedStatuses?: number[];
  /** QPS packages: calls within the rate in their sliding second are covered by the package. */
  qpsPackages?: QpsPackageRule[];
  packages?: EmulatedPackage[];
  /** Operation → resource_type code on the bill (default from frs-meter's default operation map). */
  resourceTypes?: Partial<Record<OperationName, string>>;
  /** BSS flow control per API (default 10 per second; 0 turns it off). */
  requestsPerSecond?: number;
  amountFormat?: AmountFormat;
  /** Amount unit on the wire: 1 yuan (default), 2 jiao, 3 fen. */
  measureId?: 1 | 2 | 3;
  faults?: BssFault[];
}

export interface BssRequestLog {
  /** Arrival, performance.now() milliseconds (monotonic; the emulator clock may be frozen). */
  readonly at: number;
  /** Emulator-clock time of the request. */
  readonly time: string;
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly status: number;
  readonly errorCode?: string;
  /** 'aksk', 'token' or undefined when authentication failed. */
  readonly auth?: string;
}

export interface BssPlugin extends EmulatorPlugin {
  setFaults(faults: BssFault[]): void;
  getFaults(): BssFault[];
  /** Changes any of the options (prices, packages, free calls, format, rate) at run time. */
  configure(opts: Omit<BssPluginOptions, 'faults'>): void;
  requests(): BssRequestLog[];
  /** Forgets the request log and the flow-control windows. */
  clearRequests(): void;
}

interface ServiceType {
  readonly code: string;
  readonly zh: string;
  readonly en: string;
  readonly abbreviation: string;
}

const SERVICE_TYPES: readonly ServiceType[] = [
  { code: EMULATOR_SERVICE_TYPE_CODE, zh: '人脸识别', en: 'Face Recognition Service', abbreviation: 'FRS' },
  { code: 'hws.service.type.ivs', zh: '人证核身', en: 'Identity Verification Service', abbreviation: 'IVS' },
  { code: 'hws.service.type.ocr', zh: '文字识别', en: 'Optical Character Recognition', abbreviation: 'OCR' },
  { code: 'hws.service.type.ec2', zh: '弹性云服务器', en: 'Elastic Cloud Server', abbreviation: 'ECS' },
  { code: 'hws.service.type.obs', zh: '对象存储服务', en: 'Object Storage Service', abbreviation: 'OBS' },
];

const ROUTES = {
  monthlySum: '/v2/bills/customer-bills/monthly-sum',
  resFeeRecords: '/v2/bills/customer-bills/res-fee-records',
  packages: '/v3/payments/free-resources/query',
  usages: '/v2/payments/free-resources/usages/details/query',
  serviceTypes: '/v2/products/service-types',
  costs: '/v4/costs/cost-analysed-bills/query',
} as const;

/** Paths the plugin claims: BSS APIs it does not emulate are answered 404 rather than reaching FRS routing. */
const BSS_PREFIXES = ['/v4/costs/', '/v2/bills/', '/v2/payments/', '/v3/payments/', '/v2/products/', '/v2/bases/', '/v2/orders/', '/v2/accounts/'];

class BssApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

class Plugin implements BssPlugin {
  readonly name = 'bss';
  private rules: BillingRules;
  private amountFormat: AmountFormat = 'number';
  private measureId: 1 | 2 | 3 = 1;
  private rps = 10;
  private faults: (BssFault & { left: number })[] = [];
  private log: BssRequestLog[] = [];
  private readonly recent = new Map<string, number[]>();
  /** Rules change → new bills: bumped by configure(). */
  private rulesVersion = 0;
  /** The last bill computed, reused while nothing it depends on changed (the pages of one pull). */
  private billCache?: { key: string; bill: MonthBill };

  constructor(opts: BssPluginOptions) {
    this.rules = defaultRules();
    this.configure(opts);
    this.setFaults(opts.faults ?? []);
  }

  configure(opts: Omit<BssPluginOptions, 'faults'>): void {
    const r = this.rules;
    const next: BillingRules = {
      prices: opts.prices !== undefined ? checkPrices(opts.prices) : r.prices,
      free: {
        calls: opts.freeCalls ?? r.free.calls,
        scope: opts.freeScope ?? r.free.scope,
        groups: opts.freeGroups ?? r.free.groups,
        excluded: opts.freeExcluded ?? r.free.excluded,
      },
      billable: opts.billable ?? r.billable,
      billedStatuses: opts.billedStatuses ? ((list) => (s: number) => list.includes(s))([...opts.billedStatuses]) : r.billedStatuses,
      qpsPackages: opts.qpsPackages ?? r.qpsPackages,
      packages: opts.packages ?? r.packages,
      resourceTypes: opts.resourceTypes ? { ...r.resourceTypes, ...opts.resourceTypes } : r.resourceTypes,
    };
    if (!Array.isArray(next.packages)) throw new Error('BSS emulator packages must be a list');
    for (const p of next.packages) {
      const ops: unknown = p?.operations;
      const valid =
        Array.isArray(ops) &&
        ops.length > 0 &&
        ops.every((o) => (OPERATION_NAMES as readonly string[]).includes(o)) &&
        typeof p.orderInstanceId === 'string' &&
        typeof p.freeResourceId === 'string' &&
        Number.isInteger(p.totalCalls) &&
        p.totalCalls > 0 &&
        !Number.isNaN(Date.parse(p.effectiveTime)) &&
        !Number.isNaN(Date.parse(p.expireTime));
      if (!valid) {
        throw new Error(`BSS emulator package ${JSON.stringify(p?.orderInstanceId)}: needs orderInstanceId, freeResourceId, operations, a whole totalCalls > 0, effectiveTime and expireTime`);
      }
    }
    this.rules = next;
    this.rulesVersion++;
    if (opts.amountFormat !== undefined) this.amountFormat = opts.amountFormat;
    if (opts.measureId !== undefined) this.measureId = opts.measureId;
    if (opts.requestsPerSecond !== undefined) this.rps = opts.requestsPerSecond;
  }

  setFaults(faults: BssFault[]): void {
    this.faults = faults.map((f) => ({ ...f, left: f.times ?? 1 }));
  }

  getFaults(): BssFault[] {
    return this.faults.map(({ left, ...f }) => ({ ...f, times: f.times === 0 ? 0 : left }));
  }

  requests(): BssRequestLog[] {
    return this.log.slice();
  }

  clearRequests(): void {
    this.log = [];
    this.recent.clear();
  }

  async handle(req: IncomingMessage, res: ServerResponse, body: Buffer, ctx: EmulatorContext): Promise<boolean> {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const path = (q < 0 ? raw : raw.slice(0, q)).replace(/\/$/, '');
    const query = q < 0 ? '' : raw.slice(q + 1);
    const method = req.method ?? 'GET';
    if ((path + '/').startsWith(BSS_CONTROL_PREFIX)) {
      this.control(method, path.slice(BSS_CONTROL_PREFIX.length - 1), body, res, ctx);
      return true;
    }
    if (!BSS_PREFIXES.some((p) => path.startsWith(p))) return false;

    const at = performance.now();
    const entry = { at, time: ctx.now().toISOString(), method, path, query };
    const params = new URLSearchParams(query);
    let auth: string | undefined;
    try {
      auth = this.authenticate(req, body, ctx);
      this.throttle(path, at);
      let parsedBody: Record<string, unknown> = {};
      if (method === 'POST') parsedBody = parseBody(body);
      this.injectFault(path, method === 'POST' ? parsedBody : Object.fromEntries(params));
      const english = String(req.headers['x-language'] ?? '').toLowerCase() === 'en_us';
      const payload = this.route(method, path, params, parsedBody, ctx, english);
      this.send(res, 200, payload);
      this.record({ ...entry, status: 200, auth });
    } catch (e) {
      if (!(e instanceof BssApiError)) throw e;
      ctx.sendError(res, e.status, e.code, e.message);
      this.record({ ...entry, status: e.status, errorCode: e.code, auth });
    }
    return true;
  }

  /** The request log keeps the last LOG_LIMIT requests, so a long-running emulator stays small. */
  private record(entry: BssRequestLog): void {
    this.log.push(entry);
    if (this.log.length > LOG_LIMIT + 1000) this.log.splice(0, this.log.length - LOG_LIMIT);
  }

  private authenticate(req: IncomingMessage, body: Buffer, ctx: EmulatorContext): string {
    const result = ctx.verifyAuth(req, body);
    if (result.ok) {
      // BSS is a global service: it takes domain-scoped tokens only (billing-api.md §4.2).
      if (result.method === 'token' && result.projectId !== undefined) {
        throw new BssApiError(403, 'CBC.0151', 'Access denied: BSS needs a domain-scoped token, not a project-scoped one');
      }
      return result.method;
    }
    if (req.headers['x-auth-token'] !== undefined) {
      throw new BssApiError(401, 'CBC.0154', result.message.includes('expired') ? 'x_auth_token is expired' : 'Token authentication failed');
    }
    throw new BssApiError(result.status, result.code, result.message);
  }

  /** BSS flow control: at most `rps` requests per API in any one-second window. */
  private throttle(path: string, at: number): void {
    if (this.rps <= 0) return;
    const key = (Object.values(ROUTES) as string[]).includes(path) ? path : 'other';
    let times = this.recent.get(key);
    if (!times) this.recent.set(key, (times = []));
    while (times.length > 0 && times[0] <= at - 1000) times.shift();
    if (times.length >= this.rps) throw new BssApiError(429, 'CBC.0250', '消息流量控制 (flow control): too many requests per second');
    times.push(at);
  }

  private injectFault(path: string, params: Record<string, unknown>): void {
    const offset = Number(params.offset ?? 0);
    const limit = Number(params.limit ?? 10);
    const page = limit > 0 ? Math.floor(offset / limit) + 1 : 1;
    for (const f of this.faults) {
      if (f.times !== 0 && f.left <= 0) continue;
      if (f.path !== undefined && !path.startsWith(f.path)) continue;
      if (f.page !== undefined && f.page !== page) continue;
      if (f.times !== 0) f.left--;
      switch (f.kind) {
        case 'throttle':
          throw new BssApiError(429, 'CBC.0250', '消息流量控制 (flow control), injected by the emulator');
        case 'token_expired':
          throw new BssApiError(401, 'CBC.0154', 'x_auth_token is expired (injected by the emulator)');
        case 'error_200':
          throw new BssApiError(200, f.code ?? 'CBC.3005', 'business error answered with HTTP 200, injected by the emulator');
        case 'server_error':
          throw new BssApiError(f.status ?? 500, f.code ?? 'CBC.0999', `injected failure on page ${page}`);
      }
    }
  }

  private route(method: string, path: string, params: URLSearchParams, body: Record<string, unknown>, ctx: EmulatorContext, english: boolean): Record<string, unknown> {
    const ledger = ctx.ledger();
    const calls = (): ServedCall[] => ledger.map((e) => ({ time: e.time, operation: e.operation, status: e.status, projectId: e.projectId }));
    const now = ctx.now();
    const bill = (cycle: string): MonthBill => {
      const key = `${cycle}|${now.getTime()}|${this.rulesVersion}|${ledger.length}|${ledger[ledger.length - 1]?.seq ?? 0}`;
      if (this.billCache?.key !== key) this.billCache = { key, bill: monthBill(calls(), this.rules, cycle, now) };
      return this.billCache.bill;
    };
    switch (`${method} ${path}`) {
      case `GET ${ROUTES.serviceTypes}`: {
        const name = params.get('service_type_name');
        const rows = SERVICE_TYPES.filter((s) => !name || s.zh.includes(name) || s.en.toLowerCase().includes(name.toLowerCase()));
        const { offset, limit } = page(params.get('offset'), params.get('limit'), 1000);
        return {
          total_count: rows.length,
          service_types: rows.slice(offset, offset + limit).map((s) => ({ service_type_name: english ? s.en : s.zh, service_type_code: s.code, abbreviation: s.abbreviation })),
        };
      }
      case `POST ${ROUTES.costs}`: {
        // Cost Center ListCosts (billing-api.md §8): limit ≤ 1000, offset ≤ 200000, amounts as strings.
        const { offset, limit } = page(body.offset, body.limit, 1000);
        if (offset > 200_000) throw new BssApiError(400, 'CBC.0100', `offset must be at most 200000, got ${offset}`);
        const tc = body.time_condition as Record<string, unknown> | undefined;
        const measure = tc?.time_measure_id === undefined || tc?.time_measure_id === null ? 1 : Number(tc.time_measure_id);
        const periodRe = measure === 1 ? /^\d{4}-\d{2}-\d{2}$/ : /^\d{4}-\d{2}$/;
        if ((measure !== 1 && measure !== 2) || typeof tc?.begin_time !== 'string' || typeof tc?.end_time !== 'string' || !periodRe.test(tc.begin_time) || !periodRe.test(tc.end_time)) {
          throw new BssApiError(400, 'CBC.0100', 'time_condition needs time_measure_id 1 (begin_time/end_time YYYY-MM-DD) or 2 (YYYY-MM)');
        }
        const groupby = Array.isArray(body.groupby) ? (body.groupby as Record<string, unknown>[]) : [];
        if (groupby.length > 2 || groupby.some((g) => g?.type !== 'dimension' || !(COST_CENTER_DIMENSIONS as readonly string[]).includes(String(g?.key)))) {
          throw new BssApiError(400, 'CBC.0100', `groupby takes at most two {"type": "dimension", "key": …} of ${COST_CENTER_DIMENSIONS.join(', ')} in the emulator`);
        }
        const filters = Array.isArray(body.filters) ? (body.filters as Record<string, unknown>[]) : [];
        const service = filters.find((f) => (f?.filter_factor as Record<string, unknown> | undefined)?.key === 'CLOUD_SERVICE_TYPE');
        const wanted = service ? ((service.filter_factor as Record<string, unknown>).value as unknown[] | undefined) : undefined;
        const groups =
          Array.isArray(wanted) && !wanted.map((v) => String(v).toLowerCase()).includes(EMULATOR_SERVICE_TYPE_CODE)
            ? []
            : costAnalysis(calls(), this.rules, now, measure as 1 | 2, tc.begin_time, tc.end_time, groupby.map((g) => g.key as CostDimension));
        return {
          currency: this.rules.prices.currency,
          total_count: groups.length,
          cost_data: groups.slice(offset, offset + limit).map((g) => {
            let total = new Money(0);
            const costs = [...g.costs.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([period, amount]) => {
              total = total.plus(amount);
              return { time_dimension_value: period, time_measure_id: measure, amount: canonical(amount), official_amount: canonical(amount) };
            });
            return { dimensions: g.dimensions, costs, amount_by_costs: canonical(total), official_amount_by_costs: canonical(total) };
          }),
        };
      }
      case `GET ${ROUTES.monthlySum}`: {
        const cycle = requireCycle(params.get('bill_cycle'), 'bill_cycle');
        const { offset, limit } = page(params.get('offset'), params.get('limit'), 1000);
        const code = params.get('service_type_code');
        const b = bill(cycle);
        const rows = code && code !== EMULATOR_SERVICE_TYPE_CODE ? [] : b.sums;
        const total = rows.reduce((s, r) => s.plus(String(r.fields.consume_amount)), new Money(0));
        const t = this.money(canonical(total), false);
        return {
          total_count: rows.length,
          bill_sums: rows.slice(offset, offset + limit).map((r) => this.wire(r, false)),
          consume_amount: t,
          debt_amount: this.money('0', false),
          coupon_amount: this.money('0', false),
          flexipurchase_coupon_amount: this.money('0', false),
          stored_value_card_amount: this.money('0', false),
          cash_amount: t,
          credit_amount: this.money('0', false),
          writeoff_amount: this.money('0', false),
          measure_id: this.measureId,
          currency: b.currency,
        };
      }
      case `GET ${ROUTES.resFeeRecords}`: {
        const cycle = requireCycle(params.get('cycle'), 'cycle');
        const { offset, limit } = page(params.get('offset'), params.get('limit'), 1000);
        const st = params.get('statistic_type') ?? '3';
        if (st !== '1' && st !== '3') throw new BssApiError(400, 'CBC.0100', `statistic_type ${st} is not supported by the emulator (1 or 3)`);
        const code = params.get('cloud_service_type');
        const b = bill(cycle);
        const all = code !== null && code !== EMULATOR_SERVICE_TYPE_CODE ? [] : st === '1' ? b.aggregated : b.detailed;
        return { total_count: all.length, fee_records: all.slice(offset, offset + limit).map((r) => this.wire(r, true)), currency: b.currency };
      }
      case `POST ${ROUTES.packages}`: {
        const { offset, limit } = page(body.offset, body.limit, 1000);
        const codes = body.service_type_code_list;
        const wanted = Array.isArray(codes) && codes.length > 0 ? codes.map((c) => String(c).toLowerCase()) : undefined;
        const states = wanted && !wanted.includes(EMULATOR_SERVICE_TYPE_CODE) ? [] : packageStates(calls(), this.rules, now);
        const filtered = body.status === undefined || body.status === null ? states : states.filter((s) => s.status === Number(body.status));
        return {
          total_count: filtered.length,
          free_resource_packages: filtered.slice(offset, offset + limit).map((s) => ({
            order_instance_id: s.pkg.orderInstanceId,
            order_id: `emu-order-${s.pkg.orderInstanceId}`,
            product_id: `emu-package-${s.pkg.orderInstanceId}`,
            product_name: s.pkg.productName,
            enterprise_project_id: '0',
            enterprise_project_scope: 0,
            effective_time: s.pkg.effectiveTime,
            expire_time: s.pkg.expireTime,
            status: s.status,
            service_type_code: EMULATOR_SERVICE_TYPE_CODE,
            service_type_name: '人脸识别',
            region_code: EMULATOR_REGION,
            source_type: 0,
            bundle_type: 'ATOMIC_PKG',
            quota_reuse_mode: 2,
            free_resources: [
              {
                free_resource_id: s.pkg.freeResourceId,
                usage_type_name: '调用次数',
                // The SDK models these as strings (billing-api.md §6.6).
                amount: String(s.remaining),
                original_amount: String(s.pkg.totalCalls),
                measure_id: CALLS_MEASURE_ID,
              },
            ],
          })),
        };
      }
      case `POST ${ROUTES.usages}`: {
        const ids = body.free_resource_ids;
        if (!Array.isArray(ids) || ids.length === 0 || ids.length > 100) throw new BssApiError(400, 'CBC.0100', 'free_resource_ids must list 1 to 100 ids');
        const states = packageStates(calls(), this.rules, now);
        return {
          free_resources: states
            .filter((s) => ids.includes(s.pkg.freeResourceId))
            .map((s) => ({
              free_resource_id: s.pkg.freeResourceId,
              free_resource_type_name: s.pkg.productName,
              quota_reuse_cycle: 5,
              quota_reuse_cycle_type: 2,
              usage_type_name: '调用次数',
              start_time: s.pkg.effectiveTime,
              end_time: s.pkg.expireTime,
              amount: this.amountFormat === 'string' ? String(s.remaining) : rawNumber(String(s.remaining)),
              original_amount: this.amountFormat === 'string' ? String(s.pkg.totalCalls) : rawNumber(String(s.pkg.totalCalls)),
              measure_id: CALLS_MEASURE_ID,
            })),
        };
      }
      default:
        throw new BssApiError(404, 'APIG.0101', `The API does not exist or is not emulated: ${method} ${path}`);
    }
  }

  /** A record with its amounts in the wire unit and format. */
  private wire(r: ResRecord, isRecord: boolean): Record<string, unknown> {
    const out: Record<string, unknown> = { ...r.fields };
    for (const f of r.amountFields) if (out[f] !== undefined && out[f] !== null) out[f] = this.money(String(out[f]), isRecord);
    if ('measure_id' in out) out.measure_id = this.measureId;
    for (const f of ['usage', 'free_resource_usage']) if (typeof out[f] === 'number') out[f] = rawNumber(String(out[f]));
    return out;
  }

  private money(yuan: string, isRecord: boolean): unknown {
    const factor = this.measureId === 1 ? 1 : this.measureId === 2 ? 10 : 100;
    const text = canonical(new Money(yuan).times(factor));
    const asString = this.amountFormat === 'string' || (this.amountFormat === 'mixed' && isRecord);
    return asString ? text : rawNumber(text);
  }

  /** Writes JSON in which RawNumber values appear as number tokens with their exact digits. */
  private send(res: ServerResponse, status: number, obj: unknown): void {
    const text = JSON.stringify(obj, (_k, v: unknown) => (v instanceof RawNumber ? `${RAW_MARK}${v.text}` : v)).replace(RAW_RE, '$1');
    res.writeHead(status, { 'Content-Type': 'application/json;charset=UTF-8', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  private control(method: string, route: string, body: Buffer, res: ServerResponse, ctx: EmulatorContext): void {
    try {
      switch (`${method} ${route}`) {
        case 'GET /faults':
          return ctx.sendJson(res, 200, { faults: this.getFaults() });
        case 'PUT /faults': {
          const b = parseBody(body);
          if (!Array.isArray(b.faults)) throw new BssApiError(400, 'EMULATOR.0400', 'body must be {"faults": [{kind, path?, page?, times?, code?, status?}]}');
          for (const f of b.faults as BssFault[]) {
            if (!['throttle', 'token_expired', 'error_200', 'server_error'].includes(f?.kind)) {
              throw new BssApiError(400, 'EMULATOR.0400', `fault kind must be throttle, token_expired, error_200 or server_error, got ${JSON.stringify(f?.kind)}`);
            }
          }
          this.setFaults(b.faults as BssFault[]);
          return ctx.sendJson(res, 200, { faults: this.getFaults() });
        }
        case 'PUT /settings':
          try {
            this.configure(parseBody(body) as BssPluginOptions);
          } catch (e) {
            throw new BssApiError(400, 'EMULATOR.0400', (e as Error).message);
          }
          return ctx.sendJson(res, 200, { ok: true });
        case 'GET /requests':
          return ctx.sendJson(res, 200, { requests: this.log });
        case 'DELETE /requests':
          this.clearRequests();
          return ctx.sendJson(res, 200, { cleared: true });
        default:
          throw new BssApiError(404, 'EMULATOR.0404', `no BSS control route ${method} ${BSS_CONTROL_PREFIX.slice(0, -1)}${route}: faults, settings, requests`);
      }
    } catch (e) {
      if (!(e instanceof BssApiError)) throw e;
      ctx.sendError(res, e.status, e.code, e.message);
    }
  }
}

class RawNumber {
  constructor(readonly text: string) {}
}
const RAW_MARK = '\u0000raw:';
const RAW_RE = /"\\u0000raw:(-?[0-9.eE+-]+)"/g;

function rawNumber(text: string): RawNumber {
  return new RawNumber(text);
}

function parseBody(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  try {
    const v: unknown = JSON.parse(body.toString('utf8'));
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new BssApiError(400, 'CBC.0100', 'The request body is not a JSON object');
}

function requireCycle(v: string | null, name: string): string {
  if (!v || !MONTH_RE.test(v)) throw new BssApiError(400, 'CBC.0100', `${name} is required as YYYY-MM`);
  return v;
}

function page(offsetRaw: unknown, limitRaw: unknown, maxLimit: number): { offset: number; limit: number } {
  const offset = offsetRaw === null || offsetRaw === undefined || offsetRaw === '' ? 0 : Number(offsetRaw);
  const limit = limitRaw === null || limitRaw === undefined || limitRaw === '' ? 10 : Number(limitRaw);
  if (!Number.isInteger(offset) || offset < 0) throw new BssApiError(400, 'CBC.0100', `offset must be a whole number ≥ 0, got ${String(offsetRaw)}`);
  if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit) throw new BssApiError(400, 'CBC.0100', `limit must be 1 to ${maxLimit}, got ${String(limitRaw)}`);
  return { offset, limit };
}

/** The BSS plugin; pass it in `startEmulator({plugins: [bssPlugin()]})`. */
export function bssPlugin(opts: BssPluginOptions = {}): BssPlugin {
  return new Plugin(opts);
}
