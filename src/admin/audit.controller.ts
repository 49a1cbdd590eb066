// GET /admin/audit[?since=&until=&action=&actor=&target=&limit=&format=csv]: admin changes, newest first.
import { Controller, Get, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AdminAuthGuard } from './admin-auth.guard';
import { AdminQuery, FORMAT, ParsedQuery, QueryOf, sendCsv } from './admin-http';
import { AUDIT_COLUMNS, AuditService } from './audit.service';

const QUERY = { since: 'instant', until: 'instant', action: 'string', actor: 'string', target: 'string', limit: { int: [1, 10_000] }, format: FORMAT } as const;

@Controller('admin/audit')
@UseGuards(AdminAuthGuard)
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  @AdminQuery(QUERY)
  async list(@ParsedQuery() q: QueryOf<typeof QUERY>, @Res({ passthrough: true }) reply: FastifyReply) {
    const entries = await this.audit.list({ sinceMs: q.since, untilMs: q.until, action: q.action, actor: q.actor, target: q.target, limit: q.limit ?? 1_000 });
    if (q.format === 'csv') return sendCsv(reply, AUDIT_COLUMNS, entries as unknown as Record<string, unknown>[]);
    return { entries };
  }
}
