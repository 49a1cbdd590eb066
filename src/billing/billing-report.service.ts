// GET /admin/billing/{month}: the stored bill of a month (totals, summary rows, per-resource
// records) and the current resource-package snapshot, with frs-meter's own call-package balance
// next to BSS's where a call package is registered under the BSS package or item id.

import { Injectable } from '@nestjs/common';
import { CallPackagesService } from '../quota/call-packages.service';
import { BillingRepository, MonthRow, PackageItem } from './billing.repository';
import { formatMoney } from './money';
import { SUMMARY_AMOUNT_FIELDS, TOTAL_AMOUNT_FIELDS } from './bill-normalize';

export interface PackageLine {
  readonly order_instance_id: string;
  readonly free_resource_id: string;
  readonly product_name: string | null;
  readonly status: number | null;
  readonly effective_time: string | null;
  readonly expire_time: string | null;
  readonly usage_type_name: string | null;
  readonly bss_remaining: string | null;
  readonly bss_original: string | null;
  readonly measure_id: number | null;
  /** The frs-meter call package registered under this id, if any. */
  readonly call_package_id: string | null;
  readonly meter_remaining_calls: number | null;
  /** meter − BSS; BSS lags (billing-api.md §6.7), so a small positive gap is normal. */
  readonly remaining_difference: string | null;
}

export interface PackagesReport {
  readonly snapshot_at: string | null;
  readonly checked_at: string | null;
  readonly items: PackageLine[];
}

/** Every stored money column: the monthly-sum fields plus the per-resource record ones. */
const MONEY_FIELDS: readonly string[] = [...new Set<string>([...SUMMARY_AMOUNT_FIELDS, ...TOTAL_AMOUNT_FIELDS, 'discount_amount', 'amount', 'unit_price'])];

/** A stored row for JSON and CSV: money with at least two decimals, times as ISO, no internal columns. */
export function presentRow(row: Record<string, unknown>, drop: readonly string[] = ['bill_cycle', 'raw']): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    if (drop.includes(k)) continue;
    out[k] = v instanceof Date ? v.toISOString() : MONEY_FIELDS.includes(k) && typeof v === 'string' ? formatMoney(v) : v;
  }
  return out;
}

export function presentMonth(m: MonthRow): Record<string, unknown> {
  return presentRow(m as unknown as Record<string, unknown>, ['content_sha256']);
}

@Injectable()
export class BillingReportService {
  constructor(
    private readonly repo: BillingRepository,
    private readonly callPackages: CallPackagesService,
  ) {}

  async month(month: string, statisticType: 1 | 3): Promise<{ month: Record<string, unknown>; summary: Record<string, unknown>[]; records: Record<string, unknown>[] } | null> {
    const stored = await this.repo.readMonth(month, statisticType);
    if (!stored) return null;
    return {
      month: presentMonth(stored.month),
      summary: stored.summary.map((r) => presentRow(r)),
      records: stored.records.map((r) => presentRow(r)),
    };
  }

  async packages(): Promise<PackagesReport> {
    const [current, ours] = await Promise.all([this.repo.currentPackages(), this.callPackages.list()]);
    const items = current.items.map((i: PackageItem) => {
      const mine = ours.find((p) => p.id === i.order_instance_id || p.id === i.free_resource_id);
      const meter = mine ? mine.remaining_calls : null;
      const bss = i.remaining;
      return {
        order_instance_id: i.order_instance_id,
        free_resource_id: i.free_resource_id,
        product_name: i.product_name,
        status: i.status,
        effective_time: i.effective_time,
        expire_time: i.expire_time,
        usage_type_name: i.usage_type_name,
        bss_remaining: bss,
        bss_original: i.original,
        measure_id: i.measure_id,
        call_package_id: mine?.id ?? null,
        meter_remaining_calls: meter,
        remaining_difference: meter !== null && bss !== null ? String(meter - Number(bss)) : null,
      };
    });
    return {
      snapshot_at: current.snapshotAt ? new Date(current.snapshotAt).toISOString() : null,
      checked_at: current.checkedAt ? new Date(current.checkedAt).toISOString() : null,
      items,
    };
  }
}
