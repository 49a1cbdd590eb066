// The emulator's bills, computed from what it actually served (its ledger) under an explicit
// rule set (./bss-rules.ts) that tests write out: a served answer with a billed status to a
// billed operation is one valid call; within a QPS package's rate in its sliding second it is
// covered by the package; otherwise it is drawn from call packages, then from the monthly free
// calls (amount, scope and exclusions as stated), then paid per use at the stated tiers. Bill
// cycles are calendar months in GMT+8, as BSS's. Nothing here uses the meter's catalogue flags or
// drawdown code. Everything is pure: the plugin calls it per request with the ledger of the moment.

import { monthRange } from '../../common/billing-month';
import type { OperationName } from '../../frs/operations';
import { DEFAULT_OPERATION_MAP, EMULATOR_SERVICE_TYPE_CODE, resourceTypeCodes } from '../../billing/operation-map';
import { Money, canonical } from '../../billing/money';
import { SUMMARY_AMOUNT_FIELDS } from '../../billing/bill-normalize';
import { EXAMPLE_PRICES, EmulatorPrices, FreeTierRule, HUAWEI_BILLED_OPERATIONS, QpsPackageRule, checkPrices, freeKey, tierCost } from './bss-rules';

export const BSS_TIME_ZONE = 'Asia/Shanghai';
export const EMULATOR_REGION = 'cn-north-4';
export const PACKAGE_RESOURCE_TYPE = 'hws.resource.type.frs.package';
/** Unit id the emulator gives call counts (次); the real id is UNCERTAIN (billing-api.md §6.6). */
export const CALLS_MEASURE_ID = 41;

/**
 * Made-up prices, the same numbers as config/prices.example.json, so a demo that points
 * FRS_METER_PRICE_TABLE_FILE at the example estimates exactly what the emulator bills.
 */
export const DEFAULT_EMULATOR_PRICES = { example: true, tierBasis: 'pay_per_use', ...EXAMPLE_PRICES };

/** A call package sold to the emulated account (BSS "resource package"). */
export interface EmulatedPackage {
  /** Package key in BSS (order_instance_id); frs-meter call packages registered under this id are matched. */
  readonly orderInstanceId: string;
  /** The package's single item (free_resource_id). */
  readonly freeResourceId: string;
  readonly productName: string;
  readonly operations: readonly OperationName[];
  readonly totalCalls: number;
  /** ISO times, UTC. */
  readonly effectiveTime: string;
  readonly expireTime: string;
  /** Purchase price; when set the purchase appears on the bill of the month it became effective. */
  readonly price?: string;
}

export interface BillingRules {
  readonly prices: EmulatorPrices;
  readonly free: FreeTierRule;
  readonly billable: readonly string[];
  /** Which answers are valid (billed) calls: by default 2xx. */
  readonly billedStatuses: (status: number) => boolean;
  /** QPS packages: calls within the rate in their sliding second are covered, not billed per call. */
  readonly qpsPackages: readonly QpsPackageRule[];
  readonly packages: readonly EmulatedPackage[];
  /** Operation → BSS resource_type code. */
  readonly resourceTypes: Partial<Record<OperationName, string>>;
}

/** Defaults for the demo; tests write their own rules. */
export function defaultRules(): BillingRules {
  return {
    prices: checkPrices(EXAMPLE_PRICES),
    free: { calls: 2000, scope: 'per_account', excluded: ['live_detect', 'live_detect_face'] },
    billable: HUAWEI_BILLED_OPERATIONS,
    billedStatuses: (s) => s >= 200 && s < 300,
    qpsPackages: [],
    packages: [],
    resourceTypes: resourceTypeCodes(DEFAULT_OPERATION_MAP),
  };
}

export interface ServedCall {
  readonly time: string;
  readonly operation: OperationName;
  readonly status: number;
  readonly projectId?: string;
}

/** One detail record's worth: valid calls of one operation and project in one hour. */
interface HourCell {
  operation: OperationName;
  projectId: string;
  hourStart: number;
  /** Valid calls, QPS-covered ones excluded (they are not billed per call). */
  usage: number;
  qpsCalls: number;
  packageCalls: number;
  freeCalls: number;
  /** Month positions of the pay-per-use calls, as runs [first, count], priced at the end. */
  paid: [number, number][];
  cost: Money;
}

export interface ResRecord {
  /** Values as they go on the wire; amounts in yuan as decimal strings. */
  readonly fields: Record<string, string | number | null>;
  readonly amountFields: readonly string[];
}

export interface MonthBill {
  readonly cycle: string;
  readonly currency: string;
  /** statistic_type=1: one record per (operation, project) and per package purchase. */
  readonly aggregated: ResRecord[];
  /** statistic_type=3: one record per (operation, project, hour) and per package purchase. */
  readonly detailed: ResRecord[];
  /** bill_sums rows; amounts in yuan. */
  readonly sums: ResRecord[];
  readonly totalConsume: Money;
}

export interface PackageState {
  readonly pkg: EmulatedPackage;
  readonly used: number;
  readonly remaining: number;
  /** 0 not yet effective, 1 in effect, 2 used up, 3 expired. */
  readonly status: number;
}

const HOUR = 3600_000;
const SUM_AMOUNT_FIELDS = SUMMARY_AMOUNT_FIELDS;
const RES_AMOUNT_FIELDS = ['official_amount', 'discount_amount', 'amount', 'cash_amount', 'credit_amount', 'coupon_amount', 'debt_amount', 'adjustment_amount'];

function round2(m: Money): Money {
  return m.toDecimalPlaces(2, Money.ROUND_HALF_UP);
}

/** BSS cuts bill cycles in GMT+8, which has no daylight saving: plain arithmetic is exact. */
function gmt8Month(ms: number): string {
  return new Date(ms + 8 * HOUR).toISOString().slice(0, 7);
}

/** Applies the drawdown to every valid call in time order; the result covers all months. */
function drawdown(calls: readonly ServedCall[], rules: BillingRules, upTo: number): { cells: Map<string, HourCell>; packageUsed: Map<string, number> } {
  const valid = calls
    .filter((c) => rules.billedStatuses(c.status) && rules.billable.includes(c.operation))
    .map((c) => ({ ...c, t: Date.parse(c.time) }))
    .filter((c) => c.t <= upTo)
    .sort((a, b) => a.t - b.t);
  const qps = rules.qpsPackages.map((q) => ({ ...q, fromMs: Date.parse(q.from), toMs: Date.parse(q.to) }));
  /** Per operation, the times of recent valid calls (sliding 1-second window). */
  const recent = new Map<string, number[]>();
  const packageUsed = new Map<string, number>(rules.packages.map((p) => [p.orderInstanceId, 0]));
  const packages = [...rules.packages]
    .sort((a, b) => Date.parse(a.expireTime) - Date.parse(b.expireTime))
    .map((p) => ({ p, from: Date.parse(p.effectiveTime), to: Date.parse(p.expireTime) }));
  const freeUsed = new Map<string, number>();
  const payCount = new Map<string, number>();
  const cells = new Map<string, HourCell>();
  for (const c of valid) {
    const month = gmt8Month(c.t);
    const projectId = c.projectId ?? '';
    const hourStart = c.t - (c.t % HOUR);
    const key = `${c.operation}|${projectId}|${hourStart}`;
    let cell = cells.get(key);
    if (!cell) cells.set(key, (cell = { operation: c.operation, projectId, hourStart, usage: 0, qpsCalls: 0, packageCalls: 0, freeCalls: 0, paid: [], cost: new Money(0) }));
    const times = recent.get(c.operation) ?? [];
    while (times.length > 0 && times[0] <= c.t - 1000) times.shift();
    times.push(c.t);
    recent.set(c.operation, times);
    const q = qps.find((x) => x.operation === c.operation && c.t >= x.fromMs && c.t < x.toMs);
    if (q && times.length <= q.qps) {
      cell.qpsCalls++;
      continue;
    }
    cell.usage++;
    const pkg = packages.find(({ p, from, to }) => p.operations.includes(c.operation) && c.t >= from && c.t < to && (packageUsed.get(p.orderInstanceId) ?? 0) < p.totalCalls);
    if (pkg) {
      packageUsed.set(pkg.p.orderInstanceId, (packageUsed.get(pkg.p.orderInstanceId) ?? 0) + 1);
      cell.packageCalls++;
      continue;
    }
    const fk = `${month}|${freeKey(rules.free, c.operation)}`;
    if (!rules.free.excluded.includes(c.operation) && (freeUsed.get(fk) ?? 0) < rules.free.calls) {
      freeUsed.set(fk, (freeUsed.get(fk) ?? 0) + 1);
      cell.freeCalls++;
      continue;
    }
    const payKey = `${month}|${c.operation}`;
    const position = (payCount.get(payKey) ?? 0) + 1;
    payCount.set(payKey, position);
    const last = cell.paid[cell.paid.length - 1];
    if (last && last[0] + last[1] === position) last[1]++;
    else cell.paid.push([position, 1]);
  }
  for (const cell of cells.values()) {
    for (const [first, count] of cell.paid) {
      cell.cost = cell.cost.plus(tierCost(rules.prices, cell.operation, first, count));
    }
  }
  return { cells, packageUsed };
}

function usageRecord(cycle: string, rules: BillingRules, op: OperationName, projectId: string, from: number, to: number, usage: number, packageCalls: number, amount: Money, detail: boolean, n: number): ResRecord {
  const resourceType = rules.resourceTypes[op] ?? `hws.resource.type.frs.${op}`;
  const fields: Record<string, string | number | null> = {
    bill_date: detail ? localDate(from) : `${cycle}-01`,
    bill_type: 5,
    customer_id: 'emulated-customer',
    account_name: 'frs-meter-emulator',
    region: EMULATOR_REGION,
    region_name: 'CN North-Beijing4',
    cloud_service_type: EMULATOR_SERVICE_TYPE_CODE,
    cloud_service_type_name: '人脸识别',
    resource_type: resourceType,
    resource_type_name: op,
    effective_time: iso(from),
    expire_time: iso(to),
    consume_time: detail ? iso(from) : null,
    trade_time: iso(to),
    trade_id: `emu-${cycle}-${op}-${n}`,
    resource_id: projectId || 'default',
    resource_name: `FRS ${op}`,
    product_id: `emu-product-${op}`,
    product_name: `FRS ${op}`,
    product_spec_desc: `FRS ${op} per call`,
    sku_code: `frs.${op}.call`,
    enterprise_project_id: '0',
    enterprise_project_name: 'default',
    charge_mode: '3',
    usage_type: 'reqNumber',
    usage,
    usage_measure_id: CALLS_MEASURE_ID,
    free_resource_usage: packageCalls,
    free_resource_measure_id: CALLS_MEASURE_ID,
    official_amount: canonical(amount),
    discount_amount: '0',
    amount: canonical(amount),
    cash_amount: canonical(amount),
    credit_amount: '0',
    coupon_amount: '0',
    debt_amount: '0',
    adjustment_amount: '0',
    measure_id: 1,
  };
  if (detail) fields.id = `emu-${cycle}-${op}-${projectId}-${from}`;
  return { fields, amountFields: RES_AMOUNT_FIELDS };
}

function packageRecord(cycle: string, pkg: EmulatedPackage, detail: boolean): ResRecord {
  const price = canonical(new Money(pkg.price ?? '0'));
  const fields: Record<string, string | number | null> = {
    bill_date: localDate(Date.parse(pkg.effectiveTime)),
    bill_type: 1,
    customer_id: 'emulated-customer',
    account_name: 'frs-meter-emulator',
    region: EMULATOR_REGION,
    region_name: 'CN North-Beijing4',
    cloud_service_type: EMULATOR_SERVICE_TYPE_CODE,
    cloud_service_type_name: '人脸识别',
    resource_type: PACKAGE_RESOURCE_TYPE,
    resource_type_name: 'FRS call package',
    effective_time: pkg.effectiveTime,
    expire_time: pkg.expireTime,
    consume_time: detail ? pkg.effectiveTime : null,
    trade_time: pkg.effectiveTime,
    trade_id: `emu-order-${pkg.orderInstanceId}`,
    resource_id: pkg.orderInstanceId,
    resource_name: pkg.productName,
    product_id: `emu-package-${pkg.orderInstanceId}`,
    product_name: pkg.productName,
    product_spec_desc: `${pkg.totalCalls} calls`,
    sku_code: 'frs.package.calls',
    enterprise_project_id: '0',
    enterprise_project_name: 'default',
    charge_mode: '1',
    order_id: `emu-order-${pkg.orderInstanceId}`,
    period_type: 19,
    period_num: 1,
    official_amount: price,
    discount_amount: '0',
    amount: price,
    cash_amount: price,
    credit_amount: '0',
    coupon_amount: '0',
    debt_amount: '0',
    adjustment_amount: '0',
    measure_id: 1,
  };
  if (detail) fields.id = `emu-package-${pkg.orderInstanceId}`;
  return { fields, amountFields: RES_AMOUNT_FIELDS };
}

/** The bill of `cycle` as BSS would show it at `now`, from the calls served so far. */
export function monthBill(calls: readonly ServedCall[], rules: BillingRules, cycle: string, now: Date): MonthBill {
  const { start, end } = monthRange(cycle, BSS_TIME_ZONE);
  const { cells } = drawdown(calls, rules, now.getTime());
  const inMonth = [...cells.values()].filter((c) => c.hourStart >= start && c.hourStart < end);
  inMonth.sort((a, b) => a.hourStart - b.hourStart || cmp(a.operation, b.operation) || cmp(a.projectId, b.projectId));

  const detailed: ResRecord[] = [];
  inMonth.forEach((c, i) => detailed.push(usageRecord(cycle, rules, c.operation, c.projectId, c.hourStart, c.hourStart + HOUR, c.usage, c.packageCalls, c.cost, true, i)));

  const perOp = new Map<string, { op: OperationName; projectId: string; usage: number; packageCalls: number; cost: Money }>();
  for (const c of inMonth) {
    const key = `${c.operation}|${c.projectId}`;
    const acc = perOp.get(key) ?? { op: c.operation, projectId: c.projectId, usage: 0, packageCalls: 0, cost: new Money(0) };
    acc.usage += c.usage;
    acc.packageCalls += c.packageCalls;
    acc.cost = acc.cost.plus(c.cost);
    perOp.set(key, acc);
  }
  // The monthly deduction is rounded to the cent; detail records keep the raw amounts.
  const aggregated: ResRecord[] = [...perOp.values()]
    .sort((a, b) => cmp(a.op, b.op) || cmp(a.projectId, b.projectId))
    .map((a, i) => usageRecord(cycle, rules, a.op, a.projectId, start, end, a.usage, a.packageCalls, round2(a.cost), false, i));

  const purchases = rules.packages.filter((p) => p.price !== undefined && gmt8Month(Date.parse(p.effectiveTime)) === cycle && Date.parse(p.effectiveTime) <= now.getTime());
  for (const p of purchases) {
    aggregated.push(packageRecord(cycle, p, false));
    detailed.push(packageRecord(cycle, p, true));
  }

  const groups = new Map<string, { resourceType: string; chargingMode: number; billType: number; amount: Money }>();
  for (const r of aggregated) {
    const chargingMode = Number(r.fields.charge_mode);
    const key = `${r.fields.resource_type}|${chargingMode}|${r.fields.bill_type}`;
    const g = groups.get(key) ?? { resourceType: String(r.fields.resource_type), chargingMode, billType: Number(r.fields.bill_type), amount: new Money(0) };
    g.amount = g.amount.plus(String(r.fields.amount));
    groups.set(key, g);
  }
  let totalConsume = new Money(0);
  const sums: ResRecord[] = [...groups.values()]
    .sort((a, b) => cmp(a.resourceType, b.resourceType) || a.chargingMode - b.chargingMode)
    .map((g) => {
      totalConsume = totalConsume.plus(g.amount);
      const a = canonical(g.amount);
      return {
        amountFields: SUM_AMOUNT_FIELDS,
        fields: {
          bill_cycle: cycle,
          customer_id: 'emulated-customer',
          account_name: 'frs-meter-emulator',
          service_type_code: EMULATOR_SERVICE_TYPE_CODE,
          service_type_name: '人脸识别',
          resource_type_code: g.resourceType,
          resource_type_name: g.resourceType.split('.').pop() ?? g.resourceType,
          charging_mode: g.chargingMode,
          bill_type: g.billType,
          official_amount: a,
          official_discount_amount: '0',
          truncated_amount: '0',
          consume_amount: a,
          coupon_amount: '0',
          flexipurchase_coupon_amount: '0',
          stored_value_card_amount: '0',
          debt_amount: '0',
          writeoff_amount: '0',
          cash_amount: a,
          credit_amount: '0',
          measure_id: 1,
        },
      };
    });
  return { cycle, currency: rules.prices.currency, aggregated, detailed, sums, totalConsume };
}

/** Each package's drawdown so far, from every valid call up to `now`. */
export function packageStates(calls: readonly ServedCall[], rules: BillingRules, now: Date): PackageState[] {
  const { packageUsed } = drawdown(calls, rules, now.getTime());
  return rules.packages.map((pkg) => {
    const used = packageUsed.get(pkg.orderInstanceId) ?? 0;
    const remaining = Math.max(0, pkg.totalCalls - used);
    const t = now.getTime();
    const status = t < Date.parse(pkg.effectiveTime) ? 0 : t >= Date.parse(pkg.expireTime) ? 3 : remaining === 0 ? 2 : 1;
    return { pkg, used, remaining, status };
  });
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function localDate(ms: number): string {
  // GMT+8 has no daylight saving: the local date is the UTC date of ms + 8 h.
  return new Date(ms + 8 * HOUR).toISOString().slice(0, 10);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Dimensions the emulated Cost Center groups by (billing-api.md §8). */
export const COST_CENTER_DIMENSIONS = ['CLOUD_SERVICE_TYPE', 'RESOURCE_TYPE', 'USAGE_TYPE', 'ENTERPRISE_PROJECT_ID', 'REGION_CODE', 'RESOURCE_ID'] as const;
export type CostDimension = (typeof COST_CENTER_DIMENSIONS)[number];

export interface CostGroup {
  readonly dimensions: { key: CostDimension; value: string }[];
  /** Period (YYYY-MM-DD or YYYY-MM) → exact amount. */
  readonly costs: Map<string, Money>;
}

/**
 * Cost Center's original costs as the emulator's bills have them: the hourly cells of the drawdown
 * (the same numbers as the detail records) and package purchases, summed per period — local days
 * (GMT+8) or months — and per value of the grouping dimensions, between two periods inclusive.
 * Groups whose amounts are all zero are left out, as a cost view shows only what cost something.
 */
export function costAnalysis(calls: readonly ServedCall[], rules: BillingRules, now: Date, measure: 1 | 2, begin: string, end: string, groupBy: readonly CostDimension[]): CostGroup[] {
  const { cells } = drawdown(calls, rules, now.getTime());
  const items: { at: number; op?: OperationName; resourceType: string; projectId: string; amount: Money }[] = [];
  for (const c of cells.values()) items.push({ at: c.hourStart, op: c.operation, resourceType: rules.resourceTypes[c.operation] ?? `hws.resource.type.frs.${c.operation}`, projectId: c.projectId, amount: c.cost });
  for (const p of rules.packages) {
    const at = Date.parse(p.effectiveTime);
    if (p.price !== undefined && at <= now.getTime()) items.push({ at, resourceType: PACKAGE_RESOURCE_TYPE, projectId: p.orderInstanceId, amount: new Money(p.price) });
  }
  const value = (d: CostDimension, it: (typeof items)[number]): string => {
    switch (d) {
      case 'CLOUD_SERVICE_TYPE':
        return EMULATOR_SERVICE_TYPE_CODE;
      case 'RESOURCE_TYPE':
        return it.resourceType;
      case 'USAGE_TYPE':
        return it.op ? 'reqNumber' : 'package';
      case 'ENTERPRISE_PROJECT_ID':
        return '0';
      case 'REGION_CODE':
        return EMULATOR_REGION;
      case 'RESOURCE_ID':
        return it.projectId || 'default';
    }
  };
  const groups = new Map<string, CostGroup>();
  for (const it of items) {
    const period = measure === 1 ? localDate(it.at) : localDate(it.at).slice(0, 7);
    if (period < begin || period > end || it.amount.isZero()) continue;
    const dims = groupBy.map((key) => ({ key, value: value(key, it) }));
    const key = JSON.stringify(dims);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { dimensions: dims, costs: new Map() }));
    g.costs.set(period, (g.costs.get(period) ?? new Money(0)).plus(it.amount));
  }
  return [...groups.entries()].sort((a, b) => cmp(a[0], b[0])).map(([, g]) => g);
}
