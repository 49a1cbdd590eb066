// Billing admin routes (SPEC §5):
//   POST /admin/billing/sync {month}                       pull one month (and the packages) now
//   GET  /admin/billing/{YYYY-MM}[?format=csv&table=records|detail|summary|packages]
//   GET  /admin/reconciliation/{YYYY-MM}[?format=csv&table=operations|apps]
// CSV is one table per request; `table` picks it.

import { Body, Controller, Get, HttpCode, HttpException, Param, Post, Query, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AdminAuthGuard } from '../admin/admin-auth.guard';
import { badRequest, meterError, notFound } from '../admin/meter-error';
import { toCsv } from '../admin/csv';
import { wantsCsv } from '../quota/quota.controller';
import { MONTH_RE } from '../common/billing-month';
import { BssError } from './bss-client';
import { BillingInputError, BillingSyncService } from './billing-sync.service';
import { BillingReportService } from './billing-report.service';
import { ReconciliationService } from './reconciliation.service';
import { BillingMetrics } from './billing.metrics';

export const RECONCILIATION_OPERATION_COLUMNS = [
  'bill_cycle',
  'status',
  'operation',
  'metered_calls',
  'qps_package',
  'call_package',
  'free_tier',
  'pay_per_use',
  'estimated_cost',
  'billed_calls',
  'billed_package_calls',
  'billed_amount',
  'difference_calls',
  'difference_amount',
  'currency',
  'explanation',
];
export const RECONCILIATION_APP_COLUMNS = ['bill_cycle', 'status', 'app', 'billable_calls', 'share_of_calls', 'share_amount', 'other_amount', 'currency'];
const RECORD_COLUMNS = [
  'statistic_type',
  'row_no',
  'operation',
  'bill_date',
  'bill_type',
  'customer_id',
  'region',
  'cloud_service_type',
  'resource_type',
  'resource_id',
  'resource_name',
  'product_spec_desc',
  'sku_code',
  'charge_mode',
  'usage_type',
  'usage',
  'usage_measure_id',
  'free_resource_usage',
  'free_resource_measure_id',
  'unit_price',
  'unit',
  'official_amount',
  'discount_amount',
  'amount',
  'trade_id',
  'consume_time',
  'effective_time',
  'expire_time',
];
const SUMMARY_COLUMNS = [
  'row_no',
  'customer_id',
  'account_name',
  'service_type_code',
  'resource_type_code',
  'resource_type_name',
  'charging_mode',
  'bill_type',
  'operation',
  'official_amount',
  'official_discount_amount',
  'truncated_amount',
  'consume_amount',
  'coupon_amount',
  'cash_amount',
  'credit_amount',
  'debt_amount',
  'writeoff_amount',
];
const PACKAGE_COLUMNS = [
  'order_instance_id',
  'free_resource_id',
  'product_name',
  'status',
  'effective_time',
  'expire_time',
  'usage_type_name',
  'bss_remaining',
  'bss_original',
  'measure_id',
  'call_package_id',
  'meter_remaining_calls',
  'remaining_difference',
];

function month(value: string): string {
  if (!MONTH_RE.test(value)) throw badRequest(`not a month: ${JSON.stringify(value)} (expected YYYY-MM)`);
  return value;
}

function table<T extends string>(value: string | undefined, allowed: readonly T[]): T {
  if (value === undefined) return allowed[0];
  if (!(allowed as readonly string[]).includes(value)) throw badRequest(`table must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  return value as T;
}

function csv(reply: FastifyReply, columns: readonly string[], rows: readonly Record<string, unknown>[]): string {
  reply.header('content-type', 'text/csv; charset=utf-8');
  return toCsv(columns, rows);
}

@Controller('admin')
@UseGuards(AdminAuthGuard)
export class BillingController {
  constructor(
    private readonly sync: BillingSyncService,
    private readonly reports: BillingReportService,
    private readonly reconciliation: ReconciliationService,
    private readonly metrics: BillingMetrics,
  ) {}

  @Post('billing/sync')
  @HttpCode(200)
  async runSync(@Body() body: unknown) {
    const b = (body ?? {}) as { month?: unknown; packages?: unknown };
    if (typeof b !== 'object' || typeof b.month !== 'string') throw badRequest('body must be {"month": "YYYY-MM"} (optionally "packages": false)');
    if (b.packages !== undefined && typeof b.packages !== 'boolean') throw badRequest('packages must be true or false');
    const m = month(b.month);
    try {
      const stored = await this.sync.syncMonth(m);
      let packages: unknown = null;
      if (b.packages !== false) {
        // Packages are not part of the month: their failure is reported, the month stays stored.
        packages = await this.sync.syncPackages().catch((err: Error) => ({ error: err.message }));
      }
      return { month: stored, packages };
    } catch (err) {
      if (err instanceof BillingInputError) throw badRequest(err.message);
      if (err instanceof BssError) throw new HttpException(meterError('METER.0502', `BSS sync failed, nothing stored: ${err.message}`), 502);
      throw err;
    } finally {
      this.metrics.invalidate();
    }
  }

  @Get('billing/:month')
  async billing(
    @Param('month') monthParam: string,
    @Query('format') format: string | undefined,
    @Query('table') tableParam: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const m = month(monthParam);
    const asCsv = wantsCsv(format);
    const t = table(tableParam, ['records', 'detail', 'summary', 'packages'] as const);
    if (asCsv && t === 'packages') return csv(reply, PACKAGE_COLUMNS, (await this.reports.packages()).items as unknown as Record<string, unknown>[]);
    const stored = await this.reports.month(m, t === 'detail' ? 3 : 1);
    if (!stored) throw notFound(`no bill stored for ${m}: POST /admin/billing/sync {"month": "${m}"}`);
    if (!asCsv) return { ...stored, packages: await this.reports.packages() };
    if (t === 'summary') return csv(reply, SUMMARY_COLUMNS, stored.summary);
    return csv(reply, RECORD_COLUMNS, stored.records);
  }

  @Get('reconciliation/:month')
  async reconcile(
    @Param('month') monthParam: string,
    @Query('format') format: string | undefined,
    @Query('table') tableParam: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const m = month(monthParam);
    const asCsv = wantsCsv(format);
    const t = table(tableParam, ['operations', 'apps'] as const);
    const report = await this.reconciliation.report(m);
    if (!asCsv) return report;
    const common = { bill_cycle: report.bill_cycle, status: report.status, currency: report.currency };
    if (t === 'apps') return csv(reply, RECONCILIATION_APP_COLUMNS, report.apps.map((a) => ({ ...common, ...a })));
    return csv(reply, RECONCILIATION_OPERATION_COLUMNS, report.operations.map((o) => ({ ...common, ...o })));
  }
}
