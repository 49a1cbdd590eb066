// Billing admin routes (SPEC §5):
//   POST /admin/billing/sync {month}                       pull one month (and the packages) now
//   GET  /admin/billing/{YYYY-MM}[?format=csv&table=records|detail|summary|packages]
//   POST /admin/cost-center/sync {month}                   pull one month's daily costs from Cost Center now
//   GET  /admin/reconciliation/{YYYY-MM}[?format=csv&table=operations|apps|days]
// CSV is one table per request; `table` picks it.

import { Body, Controller, Get, HttpCode, HttpException, Param, Post, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AdminAuthGuard } from '../admin/admin-auth.guard';
import { Actor, AdminQuery, badRequest, FORMAT, meterError, notFound, ParsedQuery, QueryOf, sendCsv } from '../admin/admin-http';
import type { AdminActor } from '../admin/admin-tokens';
import { AuditService } from '../admin/audit.service';
import { MONTH_RE } from '../common/billing-month';
import { SUMMARY_AMOUNT_FIELDS } from './bill-normalize';
import { BssError } from './bss-client';
import { BillingInputError, BillingSyncService } from './billing-sync.service';
import { BillingReportService } from './billing-report.service';
import { ReconciliationService } from './reconciliation.service';
import { CostCenterSyncService } from './cost-center-sync.service';
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
  'qps_overflow',
  'possibly_billed',
  'gateway_timeouts',
  'difference_calls',
  'unexplained_calls',
  'difference_amount',
  'currency',
  'explanation',
];
export const RECONCILIATION_APP_COLUMNS = ['bill_cycle', 'status', 'app', 'billable_calls', 'share_of_calls', 'share_amount', 'currency'];
/** The rest of the bill, one row per cause (table=unattributed). */
export const RECONCILIATION_UNATTRIBUTED_COLUMNS = ['bill_cycle', 'status', 'cause', 'operation', 'calls', 'amount', 'currency', 'text'];
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

// Columns that carry decimals as strings: left as numbers in CSV (every other text cell is
// neutralised against spreadsheet formulas, see admin-http.ts).
const MONEY_COLUMNS = [
  'usage',
  'free_resource_usage',
  'unit_price',
  'discount_amount',
  'amount',
  ...SUMMARY_AMOUNT_FIELDS,
  'bss_remaining',
  'bss_original',
  'estimated_cost',
  'billed_amount',
  'difference_amount',
  'share_of_calls',
  'share_amount',
  'unattributed_amount',
];

function csv(reply: FastifyReply, columns: readonly string[], rows: readonly Record<string, unknown>[]): string {
  return sendCsv(reply, columns, rows, MONEY_COLUMNS);
}

const RECONCILIATION_DAY_COLUMNS = [
  'bill_cycle', 'day', 'operation', 'status', 'metered_calls', 'free_tier', 'call_package', 'pay_per_use', 'currency',
  'estimated_cost', 'cost_center_amount', 'final_amount', 'difference_amount', 'unexplained_amount', 'explanation',
] as const;

const BILLING_QUERY = { format: FORMAT, table: ['records', 'detail', 'summary', 'packages'] } as const;
const RECONCILIATION_QUERY = { format: FORMAT, table: ['operations', 'apps', 'days', 'unattributed'] } as const;

@Controller('admin')
@UseGuards(AdminAuthGuard)
export class BillingController {
  constructor(
    private readonly sync: BillingSyncService,
    private readonly reports: BillingReportService,
    private readonly reconciliation: ReconciliationService,
    private readonly metrics: BillingMetrics,
    private readonly audit: AuditService,
    private readonly costCenter: CostCenterSyncService,
  ) {}

  /** Pulls one month's daily costs from Cost Center now (the schedule does it hourly). */
  @Post('cost-center/sync')
  @HttpCode(200)
  async runCostCenterSync(@Body() body: unknown, @Actor() actor: AdminActor) {
    const b = (body ?? {}) as { month?: unknown };
    if (typeof b !== 'object' || typeof b.month !== 'string') throw badRequest('body must be {"month": "YYYY-MM"}');
    const m = month(b.month);
    try {
      const result = await this.costCenter.syncMonth(m);
      await this.audit.record({ actor, action: 'cost_center.sync', target: m, before: null, after: result });
      return result;
    } catch (err) {
      if (err instanceof BillingInputError) throw badRequest(err.message);
      if (err instanceof BssError) throw new HttpException(meterError('METER.0502', `Cost Center sync failed, nothing stored: ${err.message}`), 502);
      throw err;
    } finally {
      this.metrics.invalidate();
    }
  }

  @Post('billing/sync')
  @HttpCode(200)
  async runSync(@Body() body: unknown, @Actor() actor: AdminActor) {
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
      await this.audit.record({ actor, action: 'billing.sync', target: m, before: null, after: { month: stored, packages } });
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
  @AdminQuery(BILLING_QUERY)
  async billing(@Param('month') monthParam: string, @ParsedQuery() q: QueryOf<typeof BILLING_QUERY>, @Res({ passthrough: true }) reply: FastifyReply) {
    const m = month(monthParam);
    const asCsv = q.format === 'csv';
    const t = q.table ?? 'records';
    if (asCsv && t === 'packages') return csv(reply, PACKAGE_COLUMNS, (await this.reports.packages()).items as unknown as Record<string, unknown>[]);
    const stored = await this.reports.month(m, t === 'detail' ? 3 : 1);
    if (!stored) throw notFound(`no bill stored for ${m}: POST /admin/billing/sync {"month": "${m}"}`);
    if (!asCsv) return { ...stored, packages: await this.reports.packages() };
    if (t === 'summary') return csv(reply, SUMMARY_COLUMNS, stored.summary);
    return csv(reply, RECORD_COLUMNS, stored.records);
  }

  @Get('reconciliation/:month')
  @AdminQuery(RECONCILIATION_QUERY)
  async reconcile(@Param('month') monthParam: string, @ParsedQuery() q: QueryOf<typeof RECONCILIATION_QUERY>, @Res({ passthrough: true }) reply: FastifyReply) {
    const m = month(monthParam);
    const asCsv = q.format === 'csv';
    const t = q.table ?? 'operations';
    const report = await this.reconciliation.report(m);
    if (!asCsv) return report;
    const common = { bill_cycle: report.bill_cycle, status: report.status, currency: report.currency };
    if (t === 'apps') return csv(reply, RECONCILIATION_APP_COLUMNS, report.apps.map((a) => ({ ...common, ...a })));
    if (t === 'days') return csv(reply, RECONCILIATION_DAY_COLUMNS, report.daily.rows.map((r) => ({ bill_cycle: report.bill_cycle, currency: report.currency, ...r })));
    if (t === 'unattributed') return csv(reply, RECONCILIATION_UNATTRIBUTED_COLUMNS, report.unattributed.map((u) => ({ ...common, ...u })));
    return csv(reply, RECONCILIATION_OPERATION_COLUMNS, report.operations.map((o) => ({ ...common, ...o })));
  }
}
