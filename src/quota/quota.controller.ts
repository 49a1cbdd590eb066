// Admin routes for QPS packages and call packages (SPEC §5). Thin: validate, hand off.

import { Body, Controller, Delete, Get, Header, HttpCode, Inject, Param, Post, Put, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { CONFIG, Config } from '../config/config';
import { Clock } from '../common/clock';
import { AdminAuthGuard } from '../admin/admin-auth.guard';
import { Actor, AdminQuery, FORMAT, ParsedQuery, QueryOf, toCsv } from '../admin/admin-http';
import type { AdminActor } from '../admin/admin-tokens';
import { AuditService } from '../admin/audit.service';
import { QuotaService } from './quota.service';
import { CallPackagesService } from './call-packages.service';
import { parseCallPackage, parseOperation, parseQpsPackage } from './quota.dto';

const QPS_CSV = ['operation', 'default_qps', 'quota', 'peak_qps', 'saturation', 'package_qps', 'starts_at', 'expires_at', 'status'];
const CALL_CSV = [
  'id',
  'operations',
  'total_calls',
  'used_calls',
  'starts_at',
  'expires_at',
  'registered_at',
  'used_as_of',
  'used_calls_metered',
  'drawn_calls',
  'remaining_calls',
  'status',
  'exhausted_at',
  'burn_rate_per_day',
  'forecast_window_days',
  'exhaustion_forecast',
  'projected_unused_at_expiry',
];

const LIST_QUERY = { format: FORMAT } as const;

@Controller('admin')
@UseGuards(AdminAuthGuard)
export class QuotaController {
  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly clock: Clock,
    private readonly quota: QuotaService,
    private readonly callPackages: CallPackagesService,
    private readonly audit: AuditService,
  ) {}

  @Put('qps-packages/:operation')
  @Header('cache-control', 'no-store')
  async putQpsPackage(@Param('operation') operation: string, @Body() body: unknown, @Actor() actor: AdminActor) {
    const op = parseOperation(operation);
    const result = await this.quota.putPackage(op, parseQpsPackage(body, this.clock.now()));
    await this.audit.record({ actor, action: 'qps_package.put', target: op, before: result.replaced, after: result.package });
    return result;
  }

  @Delete('qps-packages/:operation')
  async deleteQpsPackage(@Param('operation') operation: string, @Actor() actor: AdminActor) {
    const op = parseOperation(operation);
    const result = await this.quota.endPackage(op);
    await this.audit.record({ actor, action: 'qps_package.end', target: op, before: null, after: result.ended });
    return result;
  }

  @Get('qps-packages')
  @AdminQuery(LIST_QUERY)
  async listQpsPackages(@ParsedQuery() q: QueryOf<typeof LIST_QUERY>, @Res({ passthrough: true }) reply: FastifyReply) {
    const csv = q.format === 'csv';
    const list = await this.quota.list();
    if (!csv) return { qps_packages: list };
    reply.header('content-type', 'text/csv; charset=utf-8');
    return toCsv(
      QPS_CSV,
      list.map((q) => ({ ...q, package_qps: q.package?.qps, starts_at: q.package?.starts_at, expires_at: q.package?.expires_at, status: q.package?.status })),
    );
  }

  @Post('call-packages')
  @HttpCode(201)
  async registerCallPackage(@Body() body: unknown, @Actor() actor: AdminActor) {
    const created = await this.callPackages.register(parseCallPackage(body, this.config, this.clock.now()));
    await this.audit.record({ actor, action: 'call_package.create', target: created.id, before: null, after: created });
    return created;
  }

  @Put('call-packages/:id')
  @Header('cache-control', 'no-store')
  async correctCallPackage(@Param('id') id: string, @Body() body: unknown, @Actor() actor: AdminActor) {
    const { before, after } = await this.callPackages.correct(parseCallPackage(body, this.config, this.clock.now(), id));
    await this.audit.record({ actor, action: 'call_package.correct', target: id, before, after });
    return after;
  }

  @Delete('call-packages/:id')
  async deleteCallPackage(@Param('id') id: string, @Actor() actor: AdminActor) {
    const removed = await this.callPackages.remove(id);
    await this.audit.record({ actor, action: 'call_package.delete', target: id, before: removed, after: null });
    return { removed };
  }

  @Get('call-packages')
  @AdminQuery(LIST_QUERY)
  async listCallPackages(@ParsedQuery() q: QueryOf<typeof LIST_QUERY>, @Res({ passthrough: true }) reply: FastifyReply) {
    const csv = q.format === 'csv';
    const list = await this.callPackages.list();
    if (!csv) return { call_packages: list };
    reply.header('content-type', 'text/csv; charset=utf-8');
    return toCsv(CALL_CSV, list.map((p) => ({ ...p, operations: p.operations.join(';') })));
  }
}
