// GET /admin/usage?month=YYYY-MM[&app=][&format=csv][&table=operations|apps] (SPEC §5); without
// `month`, the current billing month.
// CSV is one table: per operation by default (errors as one "CODE:n;CODE:n" cell), or per app
// and operation with table=apps.

import { Controller, Get, Inject, Res, UseGuards } from '@nestjs/common';
import { CONFIG, Config } from '../config/config';
import { Clock } from '../common/clock';
import { billingMonthOf } from '../common/billing-month';
import type { FastifyReply } from 'fastify';
import { AdminAuthGuard } from '../admin/admin-auth.guard';
import { AdminQuery, FORMAT, ParsedQuery, QueryOf, toCsv } from '../admin/admin-http';
import { countsCell, UsageReportService } from './usage-report.service';
import { BudgetsService } from '../budgets/budgets.service';

const OPERATION_COLUMNS = [
  'month',
  'operation',
  'requests',
  'upstream_attempts',
  'successes',
  'billable_calls',
  'free_calls_used',
  'free_calls_left',
  'qps_package',
  'call_package',
  'free_tier',
  'pay_per_use',
  'estimated_cost',
  'currency',
  'errors',
  'upstream_errors',
];
const APP_COLUMNS = ['month', 'app', 'operation', 'requests', 'upstream_attempts', 'billable_calls'];
const MONEY_COLUMNS = ['estimated_cost'];
const QUERY = { month: 'month', app: 'string', format: FORMAT, table: ['operations', 'apps'] } as const;

@Controller('admin')
@UseGuards(AdminAuthGuard)
export class UsageController {
  constructor(
    private readonly reports: UsageReportService,
    private readonly clock: Clock,
    @Inject(CONFIG) private readonly config: Config,
    private readonly budgets: BudgetsService,
  ) {}

  @Get('usage')
  @AdminQuery(QUERY)
  async usage(@ParsedQuery() q: QueryOf<typeof QUERY>, @Res({ passthrough: true }) reply: FastifyReply) {
    const month = q.month ?? billingMonthOf(this.clock.now(), this.config.usage.billingTimezone);
    const csv = q.format === 'csv';
    const { app, table } = q;
    const report = await this.reports.report(month, app === '' ? undefined : app);
    if (!csv) {
      // Budgets are monthly caps on the current month: shown with it (without the lease rows).
      const current = month === billingMonthOf(this.clock.now(), this.config.usage.billingTimezone);
      const budgets = current ? (await this.budgets.list()).filter((b) => !app || b.app === app).map(({ leases: _leases, ...b }) => b) : [];
      return { ...report, budgets };
    }
    reply.header('content-type', 'text/csv; charset=utf-8');
    if (table === 'apps') {
      const rows = report.apps.flatMap((a) => Object.entries(a.operations).map(([operation, n]) => ({ month, app: a.app, operation, ...n })));
      return toCsv(APP_COLUMNS, rows);
    }
    return toCsv(
      OPERATION_COLUMNS,
      report.operations.map((o) => ({
        month,
        ...o,
        ...(o.attribution ?? {}),
        errors: countsCell(o.errors),
        upstream_errors: countsCell(o.upstream_errors),
      })),
      MONEY_COLUMNS,
    );
  }
}
