// Admin routes answer only to `Authorization: Bearer <token>` where the token is
// FRS_METER_ADMIN_TOKEN (full access) or one of FRS_METER_READONLY_TOKENS (reads only; a change
// is 403 METER.0403). With neither set, the admin API is closed (403), so an unconfigured install
// never exposes it. The guard also checks the route's query parameters (see admin-http.ts) and
// leaves the caller's fingerprint on the request for the audit trail.

import { CanActivate, ExecutionContext, HttpException, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { CONFIG, Config } from '../config/config';
import { AdminActor, adminTokens, AdminTokens, bearerToken } from './admin-tokens';
import { ADMIN_ACCESS, ADMIN_QUERY, forbidden, parseAdminQuery, QuerySpec } from './admin-http';
import { meterError } from './meter-error';
import type { ConsoleSession } from '../console/console-session';

const READ_METHODS = new Set(['GET', 'HEAD']);

@Injectable()
export class AdminAuthGuard implements CanActivate {
  private readonly tokens: AdminTokens;

  constructor(
    @Inject(CONFIG) config: Config,
    private readonly reflector: Reflector,
  ) {
    this.tokens = adminTokens(config);
  }

  canActivate(context: ExecutionContext): boolean {
    if (!this.tokens.open) {
      throw new HttpException(meterError('METER.0403', 'Admin API is closed: set FRS_METER_ADMIN_TOKEN (or FRS_METER_READONLY_TOKENS) to open it'), 403);
    }
    const req = context.switchToHttp().getRequest<{
      method: string;
      headers: Record<string, string | string[] | undefined>;
      query?: Record<string, unknown>;
      adminActor?: AdminActor;
      adminQuery?: Record<string, unknown>;
      consoleSession?: ConsoleSession;
    }>();
    const bearer = bearerToken(req.headers.authorization);
    // Without a bearer token, a console session (signed cookie, see src/console) acts as a
    // read-only token whatever token opened it: the console's CSV links are these very routes,
    // and the console never changes anything. SameSite=Strict keeps other sites from using it.
    const session = !bearer ? req.consoleSession : undefined;
    const actor = session ? { scope: 'readonly' as const, fingerprint: session.fingerprint } : this.tokens.actor(bearer);
    if (!actor) throw new HttpException(meterError('METER.0401', 'Missing or wrong admin bearer token'), 401);
    const targets = [context.getHandler(), context.getClass()];
    const access = this.reflector.getAllAndOverride<'read' | 'change' | undefined>(ADMIN_ACCESS, targets) ?? (READ_METHODS.has(req.method) ? 'read' : 'change');
    if (access === 'change' && actor.scope !== 'admin') {
      throw forbidden('This token is read-only: it can read reports and exports but not change anything (use FRS_METER_ADMIN_TOKEN)');
    }
    const spec = this.reflector.get<QuerySpec | undefined>(ADMIN_QUERY, context.getHandler()) ?? {};
    req.adminQuery = parseAdminQuery(req.query, spec);
    req.adminActor = actor;
    return true;
  }
}
