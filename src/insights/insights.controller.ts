// Insights admin routes (SPEC §7):
//   GET /admin/forecast?month=YYYY-MM[&format=csv&table=operations|packages|apps]
//   GET /admin/advice[?month=YYYY-MM]
// Thin: validates, hands off to ForecastService, formats.

import { Controller, Get, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AdminAuthGuard } from '../admin/admin-auth.guard';
import { AdminQuery, badRequest, FORMAT, ParsedQuery, QueryOf, sendCsv } from '../admin/admin-http';
import { Clock } from '../common/clock';
import { billingMonthOf } from '../common/billing-month';
import { Inject } from '@nestjs/common';
import { CONFIG, Config } from '../config/config';
import { Band, ForecastInputError, ForecastService } from './forecast.service';
import { AdviceService } from './advice.service';

const ADVICE_QUERY = { month: 'month' } as const;
const FORECAST_QUERY = { month: 'month', format: FORMAT, table: ['operations', 'packages', 'apps'] } as const;

const flat = <T>(name: string, b: Band<T> | 'already' | null): Record<string, unknown> =>
  b === null ? {} : b === 'already' ? { [`${name}_p10`]: 'already', [`${name}_p50`]: 'already', [`${name}_p90`]: 'already' } : { [`${name}_p10`]: b.p10, [`${name}_p50`]: b.p50, [`${name}_p90`]: b.p90 };
const cols = (...names: string[]) => names.flatMap((n) => [`${n}_p10`, `${n}_p50`, `${n}_p90`]);

@Controller('admin')
@UseGuards(AdminAuthGuard)
export class InsightsController {
  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly clock: Clock,
    private readonly forecasts: ForecastService,
    private readonly advisor: AdviceService,
  ) {}

  @Get('advice')
  @AdminQuery(ADVICE_QUERY)
  async advice(@ParsedQuery() q: QueryOf<typeof ADVICE_QUERY>) {
    try {
      return await this.advisor.advice(q.month);
    } catch (err) {
      if (err instanceof ForecastInputError) throw badRequest(err.message);
      throw err;
    }
  }

  @Get('forecast')
  @AdminQuery(FORECAST_QUERY)
  async forecast(@ParsedQuery() q: QueryOf<typeof FORECAST_QUERY>, @Res({ passthrough: true }) reply: FastifyReply) {
    const month = q.month ?? billingMonthOf(this.clock.now(), this.config.usage.billingTimezone);
    let f;
    try {
      f = await this.forecasts.forecast(month);
    } catch (err) {
      if (err instanceof ForecastInputError) throw badRequest(err.message);
      throw err;
    }
    if (q.format !== 'csv') return f;
    const common = { month: f.month, at: f.at, currency: f.currency };
    switch (q.table ?? 'operations') {
      case 'packages':
        return sendCsv(reply, ['month', 'at', 'id', 'remaining_now', ...cols('runs_out', 'remaining_at_month_end')], f.packages.map((p) => ({ ...common, id: p.id, remaining_now: p.remaining_now, ...flat('runs_out', p.runs_out), ...flat('remaining_at_month_end', p.remaining_at_month_end) })));
      case 'apps':
        return sendCsv(reply, ['month', 'at', 'currency', 'app', ...cols('calls', 'amount')], f.apps.map((a) => ({ ...common, app: a.app, ...flat('calls', a.calls), ...flat('amount', a.amount) })), cols('amount'));
      default:
        return sendCsv(
          reply,
          ['month', 'at', 'currency', 'operation', 'calls_so_far', ...cols('calls', 'free_tier_burnout', 'amount')],
          f.operations.map((o) => ({ ...common, operation: o.operation, calls_so_far: o.calls_so_far, ...flat('calls', o.calls), ...flat('free_tier_burnout', o.free_tier_burnout), ...flat('amount', o.amount) })),
          cols('amount'),
        );
    }
  }
}
