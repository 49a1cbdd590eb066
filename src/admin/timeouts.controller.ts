// GET /admin/timeouts (SPEC §5): per operation the rolling p50/p95/p99 of upstream attempts, the
// timeout in force and where it comes from, and the timeout an application should set.
import { Controller, Get, Query, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { Clock } from '../common/clock';
import { TimeoutPolicy, TIMEOUT_REPORT_COLUMNS } from '../proxy/timeout-policy';
import { RetryPolicy } from '../proxy/retry-policy';
import { AdminAuthGuard } from './admin-auth.guard';
import { toCsv } from './csv';
import { badRequest } from './meter-error';

@Controller('admin/timeouts')
@UseGuards(AdminAuthGuard)
export class TimeoutsController {
  constructor(
    private readonly timeouts: TimeoutPolicy,
    private readonly retry: RetryPolicy,
    private readonly clock: Clock,
  ) {}

  @Get()
  list(@Query('format') format: string | undefined, @Res({ passthrough: true }) res: FastifyReply) {
    if (format !== undefined && format !== 'json' && format !== 'csv') throw badRequest(`format must be json or csv, got ${JSON.stringify(format)}`);
    const operations = this.timeouts.report(this.clock.now(), this.retry);
    if (format === 'csv') {
      res.header('content-type', 'text/csv; charset=utf-8');
      return toCsv(TIMEOUT_REPORT_COLUMNS, operations as unknown as Record<string, unknown>[]);
    }
    return { operations };
  }
}
