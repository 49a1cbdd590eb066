// /healthz: the process is up. /readyz: the upstream is configured and usage reaches the
// database. While Postgres is away the proxy keeps serving (usage waits in memory), so /readyz
// answers 200 with status "degraded" — taking the proxy out of rotation would turn a database
// outage into an FRS outage; `?strict=1` answers 503 instead for those who want that. The
// database state comes from a background probe (ReadinessService), so /readyz never waits on
// the database and answers well within a probe's 1 s timeout even during a partition.
import { Controller, Get, Headers, HttpCode, Inject, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { CONFIG, Config } from './config/config';
import { UsageService } from './usage/usage.service';
import { ReadinessService } from './readiness.service';
import { MetricsService } from './metrics/metrics.service';

@Controller()
export class HealthController {
  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly usage: UsageService,
    private readonly metrics: MetricsService,
    private readonly readiness: ReadinessService,
  ) {}

  @Get('healthz')
  @HttpCode(200)
  healthz() {
    return { status: 'ok' };
  }

  @Get('readyz')
  readyz(@Query('strict') strict: string | undefined, @Res({ passthrough: true }) res: FastifyReply) {
    const database = this.readiness.database;
    const upstream = this.config.upstream.endpoint ? 'configured' : 'missing';
    const status = database === 'reachable' && upstream === 'configured' ? 'ready' : upstream === 'missing' ? 'not_ready' : 'degraded';
    if (status === 'not_ready' || (status === 'degraded' && (strict === '1' || strict === 'true'))) res.code(503);
    return { status, database, upstream, pending_usage_events: this.usage.pendingEvents };
  }

  @Get('metrics')
  async scrape(@Headers('accept') accept: string | undefined, @Res({ passthrough: true }) res: FastifyReply) {
    const { contentType, body } = await this.metrics.scrape(accept);
    res.header('content-type', contentType);
    return body;
  }
}
