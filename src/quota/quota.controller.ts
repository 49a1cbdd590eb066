// Admin routes for QPS packages and call packages (SPEC §5). Thin: validate, hand off.

import { Body, Controller, Delete, Get, Header, HttpCode, Inject, Param, Post, Put, Query, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { CONFIG, Config } from '../config/config';
import { Clock } from '../common/clock';
import { AdminAuthGuard } from '../admin/admin-auth.guard';
import { badRequest } from '../admin/meter-error';
import { toCsv } from '../admin/csv';
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
  'drawn_calls',
  'remaining_calls',
  'status',
  'exhausted_at',
  'burn_rate_per_day',
  'forecast_window_days',
  'exhaustion_forecast',
  'projected_unused_at_expiry',
];

export function wantsCsv(format: string | undefined): boolean {
  if (format === undefined || format === 'json') return false;
  if (format === 'csv') return true;
  throw badRequest(`format must be json or csv, got ${JSON.stringify(format)}`);
}

@Controller('admin')
@UseGuards(AdminAuthGuard)
export class QuotaController {
  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly clock: Clock,
    private readonly quota: QuotaService,
    private readonly callPackages: CallPackagesService,
  ) {}

  @Put('qps-packages/:operation')
  @Header('cache-control', 'no-store')
  putQpsPackage(@Param('operation') operation: string, @Body() body: unknown) {
    const op = parseOperation(operation);
    return this.quota.putPackage(op, parseQpsPackage(body, this.clock.now()));
  }

  @Delete('qps-packages/:operation')
  deleteQpsPackage(@Param('operation') operation: string) {
    return this.quota.endPackage(parseOperation(operation));
  }

  @Get('qps-packages')
  async listQpsPackages(@Query('format') format: string | undefined, @Res({ passthrough: true }) reply: FastifyReply) {
    const csv = wantsCsv(format);
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
  registerCallPackage(@Body() body: unknown) {
    return this.callPackages.register(parseCallPackage(body, this.config, this.clock.now()));
  }

  @Get('call-packages')
  async listCallPackages(@Query('format') format: string | undefined, @Res({ passthrough: true }) reply: FastifyReply) {
    const csv = wantsCsv(format);
    const list = await this.callPackages.list();
    if (!csv) return { call_packages: list };
    reply.header('content-type', 'text/csv; charset=utf-8');
    return toCsv(CALL_CSV, list.map((p) => ({ ...p, operations: p.operations.join(';') })));
  }
}
