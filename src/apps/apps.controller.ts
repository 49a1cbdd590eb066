// Admin API for applications (SPEC §4, §5). Secrets are returned once, at creation, and never
// reach the audit trail.
import { Body, Controller, Delete, Get, HttpCode, Param, Post, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AdminAuthGuard } from '../admin/admin-auth.guard';
import { Actor, AdminQuery, FORMAT, ParsedQuery, QueryOf, sendCsv } from '../admin/admin-http';
import type { AdminActor } from '../admin/admin-tokens';
import { AuditService } from '../admin/audit.service';
import { AppsService } from './apps.service';

const LIST_QUERY = { format: FORMAT } as const;

@Controller('admin/apps')
@UseGuards(AdminAuthGuard)
export class AppsController {
  constructor(
    private readonly apps: AppsService,
    private readonly audit: AuditService,
  ) {}

  @Post()
  @HttpCode(201)
  async create(@Body() body: { name?: unknown } | undefined, @Actor() actor: AdminActor) {
    const created = await this.apps.create(body?.name);
    const after = this.apps.list().find((a) => a.name === created.name) ?? null;
    await this.audit.record({ actor, action: 'app.create', target: created.name, before: null, after });
    return created;
  }

  @Get()
  @AdminQuery(LIST_QUERY)
  async list(@ParsedQuery() q: QueryOf<typeof LIST_QUERY>, @Res({ passthrough: true }) res: FastifyReply) {
    const apps = await this.apps.listFresh();
    if (q.format === 'csv') return sendCsv(res, ['name', 'access_key', 'api_key_hint', 'created_at'], apps as unknown as Record<string, unknown>[]);
    return { apps };
  }

  @Delete(':name')
  @HttpCode(204)
  async remove(@Param('name') name: string, @Actor() actor: AdminActor): Promise<void> {
    const before = (await this.apps.listFresh()).find((a) => a.name === name) ?? null;
    await this.apps.remove(name);
    await this.audit.record({ actor, action: 'app.delete', target: name, before, after: null });
  }
}
