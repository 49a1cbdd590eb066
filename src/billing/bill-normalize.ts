// Turns what BSS answered for one bill cycle into the rows we store: amounts as exact decimal
// strings in the main currency unit (measure_id applied), each record mapped to an operation,
// rows in a canonical order (BSS's page order is not a contract) and a hash of the whole, so a
// re-pull that brings nothing new is recognised and leaves the stored month untouched.

import { createHash } from 'node:crypto';
import { Money, amount, canonical, toDecimal, toInt } from './money';
import { OperationMap, operationOf } from './operation-map';
import type { JsonObject } from './bss-client';
import type { BillStatus } from './sync-plan';

export const SUMMARY_AMOUNT_FIELDS = [
  'official_amount',
  'official_discount_amount',
  'truncated_amount',
  'consume_amount',
  'coupon_amount',
  'flexipurchase_coupon_amount',
  'stored_value_card_amount',
  'debt_amount',
  'writeoff_amount',
  'cash_amount',
  'credit_amount',
] as const;

export const TOTAL_AMOUNT_FIELDS = [
  'consume_amount',
  'cash_amount',
  'credit_amount',
  'coupon_amount',
  'debt_amount',
  'writeoff_amount',
  'flexipurchase_coupon_amount',
  'stored_value_card_amount',
] as const;

export interface FetchedPages {
  readonly first: JsonObject;
  readonly items: JsonObject[];
}

export interface FetchedMonth {
  readonly cycle: string;
  readonly serviceTypeCode: string;
  readonly monthlySum: FetchedPages;
  readonly aggregated: FetchedPages;
  readonly detailed: FetchedPages;
}

export interface SummaryRow {
  readonly customer_id: string | null;
  readonly account_name: string | null;
  readonly service_type_code: string | null;
  readonly service_type_name: string | null;
  readonly resource_type_code: string | null;
  readonly resource_type_name: string | null;
  readonly charging_mode: number | null;
  readonly bill_type: number | null;
  readonly operation: string | null;
  readonly amounts: Record<(typeof SUMMARY_AMOUNT_FIELDS)[number], string | null>;
  readonly raw: JsonObject;
}

export interface ResourceRecord {
  readonly statistic_type: 1 | 3;
  readonly operation: string | null;
  readonly bill_date: string | null;
  readonly bill_type: number | null;
  readonly customer_id: string | null;
  readonly region: string | null;
  readonly cloud_service_type: string | null;
  readonly resource_type: string | null;
  readonly resource_id: string | null;
  readonly resource_name: string | null;
  readonly product_spec_desc: string | null;
  readonly sku_code: string | null;
  readonly charge_mode: string | null;
  readonly usage_type: string | null;
  readonly usage: string | null;
  readonly usage_measure_id: number | null;
  readonly free_resource_usage: string | null;
  readonly free_resource_measure_id: number | null;
  readonly unit_price: string | null;
  readonly unit: string | null;
  readonly official_amount: string | null;
  readonly discount_amount: string | null;
  readonly amount: string | null;
  readonly trade_id: string | null;
  readonly consume_time: string | null;
  readonly effective_time: string | null;
  readonly expire_time: string | null;
  readonly raw: JsonObject;
}

export interface MonthData {
  readonly cycle: string;
  readonly status: BillStatus;
  readonly serviceTypeCode: string;
  readonly currency: string | null;
  readonly measureId: number | null;
  readonly totals: Record<(typeof TOTAL_AMOUNT_FIELDS)[number], string | null> & { consume_amount: string };
  readonly summary: SummaryRow[];
  readonly records: ResourceRecord[];
  readonly contentSha256: string;
}

function str(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function int(v: unknown, where: string): number | null {
  return toInt(v, where) ?? null;
}

/** A quantity (usage, unit price): exact, no unit conversion. */
function quantity(v: unknown, where: string): string | null {
  const d = toDecimal(v, where);
  return d === undefined ? null : canonical(d);
}

/** JSON with keys sorted at every level: a canonical text to order and hash records by. */
export function stableStringify(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length; i++) out += (i > 0 ? ',' : '') + stableStringify(v[i]);
    return out + ']';
  }
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    if (o[k] === undefined) continue;
    out += (first ? '' : ',') + JSON.stringify(k) + ':' + stableStringify(o[k]);
    first = false;
  }
  return out + '}';
}

/** Rows sorted by their canonical text (BSS's page order is not a contract), with that text. */
function canonicalOrder(rows: readonly JsonObject[]): { raw: JsonObject; key: string }[] {
  const keyed = rows.map((raw) => ({ raw, key: stableStringify(raw) }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return keyed;
}

export function normalizeSummaryRow(raw: JsonObject, defaultMeasure: unknown, map: OperationMap, i: number): SummaryRow {
  const measure = raw.measure_id ?? defaultMeasure;
  const amounts = {} as SummaryRow['amounts'];
  for (const f of SUMMARY_AMOUNT_FIELDS) amounts[f] = amount(raw[f], measure, `bill_sums[${i}].${f}`);
  const resourceType = str(raw.resource_type_code);
  return {
    customer_id: str(raw.customer_id),
    account_name: str(raw.account_name),
    service_type_code: str(raw.service_type_code),
    service_type_name: str(raw.service_type_name),
    resource_type_code: resourceType,
    resource_type_name: str(raw.resource_type_name),
    charging_mode: int(raw.charging_mode, `bill_sums[${i}].charging_mode`),
    bill_type: int(raw.bill_type, `bill_sums[${i}].bill_type`),
    operation: operationOf({ resource_type: resourceType ?? undefined }, map) ?? null,
    amounts,
    raw,
  };
}

export function normalizeResourceRecord(raw: JsonObject, statisticType: 1 | 3, map: OperationMap, i: number): ResourceRecord {
  const where = (f: string) => `fee_records[${i}].${f}`;
  const measure = raw.measure_id;
  return {
    statistic_type: statisticType,
    operation: operationOf(raw, map) ?? null,
    bill_date: str(raw.bill_date),
    bill_type: int(raw.bill_type, where('bill_type')),
    customer_id: str(raw.customer_id),
    region: str(raw.region),
    cloud_service_type: str(raw.cloud_service_type),
    resource_type: str(raw.resource_type),
    resource_id: str(raw.resource_id),
    resource_name: str(raw.resource_name),
    product_spec_desc: str(raw.product_spec_desc),
    sku_code: str(raw.sku_code),
    charge_mode: str(raw.charge_mode),
    usage_type: str(raw.usage_type),
    usage: quantity(raw.usage, where('usage')),
    usage_measure_id: int(raw.usage_measure_id, where('usage_measure_id')),
    free_resource_usage: quantity(raw.free_resource_usage, where('free_resource_usage')),
    free_resource_measure_id: int(raw.free_resource_measure_id, where('free_resource_measure_id')),
    // unit_price is money per unit: in the record's amount unit, like the amounts.
    unit_price: amount(raw.unit_price, measure, where('unit_price')),
    unit: str(raw.unit),
    official_amount: amount(raw.official_amount, measure, where('official_amount')),
    discount_amount: amount(raw.discount_amount, measure, where('discount_amount')),
    amount: amount(raw.amount, measure, where('amount')),
    trade_id: str(raw.trade_id),
    consume_time: str(raw.consume_time),
    effective_time: str(raw.effective_time),
    expire_time: str(raw.expire_time),
    raw,
  };
}

/** Everything pulled for one cycle, as stored rows. Throws on an amount that is not a decimal. */
export function normalizeMonth(f: FetchedMonth, status: BillStatus, map: OperationMap): MonthData {
  const sumFirst = f.monthlySum.first;
  const sums = canonicalOrder(f.monthlySum.items);
  const agg = canonicalOrder(f.aggregated.items);
  const det = canonicalOrder(f.detailed.items);
  const summary = sums.map((r, i) => normalizeSummaryRow(r.raw, sumFirst.measure_id, map, i));
  const records = [...agg.map((r, i) => normalizeResourceRecord(r.raw, 1, map, i)), ...det.map((r, i) => normalizeResourceRecord(r.raw, 3, map, i))];
  const read = {} as Record<(typeof TOTAL_AMOUNT_FIELDS)[number], string | null>;
  for (const k of TOTAL_AMOUNT_FIELDS) read[k] = amount(sumFirst[k], sumFirst.measure_id, `monthly-sum ${k}`);
  // Without a top-level total (an empty month may omit it) the rows' sum is the total.
  const totals = { ...read, consume_amount: read.consume_amount ?? canonical(summary.reduce((s, r) => s.plus(r.amounts.consume_amount ?? 0), new Money(0))) };
  const currency = str(sumFirst.currency) ?? str(f.aggregated.first.currency) ?? str(f.detailed.first.currency);
  const measureId = int(sumFirst.measure_id, 'monthly-sum measure_id');
  // Every stored column derives from the raw rows and the operation mapping, so hashing those
  // (in canonical order) identifies the content.
  const h = createHash('sha256').update(stableStringify({ status, serviceTypeCode: f.serviceTypeCode, currency, measureId, totals }));
  const part = (name: string, rows: { key: string }[], ops: (string | null)[]) => {
    h.update(`\n#${name}:${rows.length}` + rows.map((r, i) => `\n${ops[i] ?? ''}\t${r.key}`).join(''));
  };
  part('summary', sums, summary.map((r) => r.operation));
  part('aggregated', agg, records.slice(0, agg.length).map((r) => r.operation));
  part('detailed', det, records.slice(agg.length).map((r) => r.operation));
  const hash = h.digest('hex');
  return { cycle: f.cycle, status, serviceTypeCode: f.serviceTypeCode, currency, measureId, totals, summary, records, contentSha256: hash };
}

/**
 * One row per package item (ListFreeResourceInfos), with the remaining quota from
 * ListFreeResourceUsages when it answered for the item (it is the documented source of the
 * current reset window) and from the list otherwise. Amounts are quantities in the item's unit.
 */
export function normalizePackages(packages: readonly JsonObject[], usages: readonly JsonObject[]): { items: PackageItemRow[]; contentSha256: string } {
  const usageById = new Map<string, JsonObject>();
  for (const u of usages) if (typeof u.free_resource_id === 'string') usageById.set(u.free_resource_id, u);
  const items: PackageItemRow[] = [];
  packages.forEach((p, i) => {
    const { free_resources: resources, ...pkg } = p;
    const list = Array.isArray(resources) ? (resources as JsonObject[]) : [];
    list.forEach((r, j) => {
      const id = str(r.free_resource_id) ?? `${str(p.order_instance_id)}#${j}`;
      const u = usageById.get(id);
      const where = (f: string) => `free_resource_packages[${i}].free_resources[${j}].${f}`;
      items.push({
        order_instance_id: str(p.order_instance_id) ?? `package-${i}`,
        free_resource_id: id,
        product_name: str(p.product_name),
        status: int(p.status, `free_resource_packages[${i}].status`),
        effective_time: str(p.effective_time),
        expire_time: str(p.expire_time),
        quota_reuse_mode: int(p.quota_reuse_mode, `free_resource_packages[${i}].quota_reuse_mode`),
        usage_type_name: str(u?.usage_type_name ?? r.usage_type_name),
        remaining: quantity(u?.amount ?? r.amount, where('amount')),
        original: quantity(u?.original_amount ?? r.original_amount, where('original_amount')),
        measure_id: int(u?.measure_id ?? r.measure_id, where('measure_id')),
        quota_reuse_cycle: int(u?.quota_reuse_cycle, where('quota_reuse_cycle')),
        quota_reuse_cycle_type: int(u?.quota_reuse_cycle_type, where('quota_reuse_cycle_type')),
        start_time: str(u?.start_time),
        end_time: str(u?.end_time),
        raw: { package: pkg, item: r, ...(u ? { usage: u } : {}) },
      });
    });
  });
  items.sort((a, b) => (a.order_instance_id < b.order_instance_id ? -1 : a.order_instance_id > b.order_instance_id ? 1 : a.free_resource_id < b.free_resource_id ? -1 : a.free_resource_id > b.free_resource_id ? 1 : 0));
  return { items, contentSha256: createHash('sha256').update(stableStringify(items)).digest('hex') };
}

export interface PackageItemRow {
  readonly order_instance_id: string;
  readonly free_resource_id: string;
  readonly product_name: string | null;
  readonly status: number | null;
  readonly effective_time: string | null;
  readonly expire_time: string | null;
  readonly quota_reuse_mode: number | null;
  readonly usage_type_name: string | null;
  readonly remaining: string | null;
  readonly original: string | null;
  readonly measure_id: number | null;
  readonly quota_reuse_cycle: number | null;
  readonly quota_reuse_cycle_type: number | null;
  readonly start_time: string | null;
  readonly end_time: string | null;
  readonly raw: JsonObject;
}
