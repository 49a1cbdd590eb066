// GET /admin/timeouts (SPEC §5): per operation the rolling p50/p95/p99 of upstream attempts, the
// timeout in force and where it comes from, and the timeout an application should set.
import { Controller, Get, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { Clock } from '../common/clock';
import { TimeoutPolicy, TIMEOUT_REPORT_COLUMNS } from '../proxy/timeout-policy';
import { RetryPolicy } from '../proxy/retry-policy';
import { AdminAuthGuard } from './admin-auth.guard';
import { AdminQuery, FORMAT, ParsedQuery, QueryOf, sendCsv } from './admin-http';

const QUERY = { format: FORMAT } as const;

@Controller('admin/timeouts')
@UseGuards(AdminAuthGuard)
export class TimeoutsController {
  constructor(
    private readonly timeouts: TimeoutPolicy,
    private readonly retry: RetryPolicy,
    private readonly clock: Clock,
  ) {}

  @Get()
  @AdminQuery(QUERY)
  list(@ParsedQuery() q: QueryOf<typeof QUERY>, @Res({ passthrough: true }) res: FastifyReply) {
    const operations = this.timeouts.report(this.clock.now(), this.retry);
    if (q.format === 'csv') return sendCsv(res, TIMEOUT_REPORT_COLUMNS, operations as unknown as Record<string, unknown>[]);
    return { operations };
  }
}
