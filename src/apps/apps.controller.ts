// Admin API for applications (SPEC §4, §5). Secrets are returned once, at creation.
import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AdminAuthGuard } from '../admin/admin-auth.guard';
import { toCsv } from '../admin/csv';
import { AppsService } from './apps.service';

@Controller('admin/apps')
@UseGuards(AdminAuthGuard)
export class AppsController {
  constructor(private readonly apps: AppsService) {}

  @Post()
  @HttpCode(201)
  create(@Body() body: { name?: unknown } | undefined) {
    return this.apps.create(body?.name);
  }

  @Get()
  async list(@Query('format') format: string | undefined, @Res({ passthrough: true }) res: FastifyReply) {
    const apps = await this.apps.listFresh();
    if (format === 'csv') {
      res.header('content-type', 'text/csv; charset=utf-8');
      return toCsv(['name', 'access_key', 'api_key_hint', 'created_at'], apps as unknown as Record<string, unknown>[]);
    }
    return { apps };
  }

  @Delete(':name')
  @HttpCode(204)
  async remove(@Param('name') name: string): Promise<void> {
    await this.apps.remove(name);
  }
}
