// /console: server-rendered, read-only pages for finance and ops. Every number comes from the
// service the admin API answers from (usage report, reconciliation, QPS and call packages, audit
// trail); the templates only lay them out, they never recompute one. The session check is the
// onRequest hook of console.setup.ts; here every handler may assume a valid session.

import { Body, Controller, Get, HttpCode, Inject, NotFoundException, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { CONFIG, Config } from '../config/config';
import { Clock } from '../common/clock';
import { billingMonthOf, MONTH_RE } from '../common/billing-month';
import { UsageReportService } from '../usage/usage-report.service';
import { UsageTimelineRepository } from '../usage/usage-report.repository';
import { ReconciliationService } from '../billing/reconciliation.service';
import { QuotaService } from '../quota/quota.service';
import { CallPackagesService } from '../quota/call-packages.service';
import { openSession, SESSION_COOKIE, SESSION_TTL_SECONDS } from './console-session';
import { WithConsoleSession } from './console.setup';
import { ConsoleViews } from './console.views';
import { AuditService } from '../admin/audit.service';
import { BudgetsService } from '../budgets/budgets.service';
import { ForecastService, MonthForecast } from '../insights/forecast.service';
import { loadStaticFiles } from './console-static';

const DAY_MS = 24 * 3600 * 1000;
const MINUTE_MS = 60 * 1000;

@Controller('console')
export class ConsoleController {
  private readonly views = new ConsoleViews();
  private readonly files = loadStaticFiles();

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly clock: Clock,
    private readonly usage: UsageReportService,
    private readonly timeline: UsageTimelineRepository,
    private readonly reconciliation: ReconciliationService,
    private readonly quota: QuotaService,
    private readonly callPackages: CallPackagesService,
    private readonly audit: AuditService,
    private readonly budgets: BudgetsService,
    private readonly forecasts: ForecastService,
  ) {}

  @Get()
  root(@Res() reply: FastifyReply): void {
    void reply.code(303).header('location', '/console/month').send();
  }

  @Get('static/:file')
  staticFile(@Param('file') name: string, @Res() reply: FastifyReply): void {
    const file = this.files.get(name);
    if (!file) throw new NotFoundException();
    void reply.header('content-type', file.type).header('cache-control', 'public, max-age=3600').send(file.body);
  }

  @Get('login')
  loginForm(@Req() req: WithConsoleSession, @Res() reply: FastifyReply): void {
    if (req.consoleSession) return void reply.code(303).header('location', '/console/month').send();
    this.html(reply, 200, 'login', { title: 'Log in' });
  }

  @Post('login')
  login(@Body() body: unknown, @Req() req: WithConsoleSession, @Res() reply: FastifyReply): void {
    const token = typeof body === 'object' && body !== null && typeof (body as { token?: unknown }).token === 'string' ? (body as { token: string }).token.trim() : '';
    const opened = token ? openSession(this.config, token, this.clock.now()) : undefined;
    if (!opened) {
      // Same answer for an unknown token and an empty form; the token is not echoed or logged.
      return this.html(reply, 401, 'login', { title: 'Log in', error: 'That token is not valid here. Check it and try again.' });
    }
    void reply
      .setCookie(SESSION_COOKIE, opened.value, {
        signed: true,
        httpOnly: true,
        sameSite: 'strict',
        secure: isHttps(req),
        path: '/',
        maxAge: SESSION_TTL_SECONDS,
      })
      .code(303)
      .header('location', '/console/month')
      .header('cache-control', 'no-store')
      .send();
  }

  @Post('logout')
  @HttpCode(303)
  logout(@Req() req: WithConsoleSession, @Res() reply: FastifyReply): void {
    void reply.clearCookie(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'strict', secure: isHttps(req) }).code(303).header('location', '/console/login').send();
  }

  @Get('month')
  async month(@Query('month') requested: string | undefined, @Req() req: WithConsoleSession, @Res() reply: FastifyReply): Promise<void> {
    const month = this.monthOr(requested, reply, req);
    if (!month) return;
    // The forecast exists for the month in progress only (GET /admin/forecast refuses others).
    const forecast: Promise<MonthForecast | null> = month === this.currentMonth() ? this.forecasts.forecast(month) : Promise.resolve(null);
    const [report, qps, callPackages, f] = await Promise.all([this.usage.report(month), this.quota.list(), this.callPackages.list(), forecast]);
    const byOperation = new Map((f?.operations ?? []).map((o) => [o.operation as string, o]));
    this.page(reply, req, '/console/month', 'month', { title: `This month ${month}`, month, report, qps, callPackages, forecast: f, byOperation, chart: true });
  }

  @Get('apps')
  async apps(@Query('month') requested: string | undefined, @Req() req: WithConsoleSession, @Res() reply: FastifyReply): Promise<void> {
    const month = this.monthOr(requested, reply, req);
    if (!month) return;
    // Budgets are for the running month only: an earlier month shows calls and shares alone.
    const current = month === this.currentMonth();
    const [report, rec, budgets] = await Promise.all([this.usage.report(month), this.reconciliation.report(month), current ? this.budgets.list() : Promise.resolve([])]);
    const shares = new Map(rec.apps.map((a) => [a.app, a]));
    const byApp = new Map(budgets.map((b) => [b.app, b]));
    const apps = report.apps.map((a) => ({ ...a, share: shares.get(a.app) ?? null, budget: byApp.get(a.app) ?? null }));
    // Apps with a budget but no call yet this month still show their budget.
    for (const b of budgets) if (!report.apps.some((a) => a.app === b.app)) apps.push({ app: b.app, requests: 0, upstream_attempts: 0, billable_calls: 0, estimated_cost: null, operations: {}, share: null, budget: b });
    this.page(reply, req, '/console/apps', 'apps', { title: `Apps ${month}`, month, apps, currency: rec.currency, budgetsShown: current });
  }

  @Get('reconciliation')
  async reconciliationPage(@Query('month') requested: string | undefined, @Req() req: WithConsoleSession, @Res() reply: FastifyReply): Promise<void> {
    const month = this.monthOr(requested, reply, req);
    if (!month) return;
    const rec = await this.reconciliation.report(month);
    this.page(reply, req, '/console/reconciliation', 'reconciliation', { title: `Reconciliation ${month}`, month, rec });
  }

  @Get('packages')
  async packages(@Req() req: WithConsoleSession, @Res() reply: FastifyReply): Promise<void> {
    const [qps, callPackages] = await Promise.all([this.quota.list(), this.callPackages.list()]);
    this.page(reply, req, '/console/packages', 'packages', { title: 'Packages', qps, callPackages, month: this.currentMonth() });
  }

  @Get('audit')
  async auditPage(@Req() req: WithConsoleSession, @Res() reply: FastifyReply): Promise<void> {
    const entries = await this.audit.list({ limit: 200 });
    this.page(reply, req, '/console/audit', 'audit', { title: 'Audit trail', entries, month: this.currentMonth() });
  }

  /** Requests and billable calls per minute for the last 24 hours, every minute present (0 when quiet). */
  @Get('data/calls-per-minute')
  async callsPerMinute(@Res({ passthrough: true }) reply: FastifyReply): Promise<{ minutes: number[]; requests: number[]; billable: number[] }> {
    const to = Math.floor(this.clock.now() / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
    const from = to - DAY_MS;
    const rows = new Map((await this.timeline.callsPerMinute(from, to)).map((r) => [r.minute, r]));
    const out = { minutes: [] as number[], requests: [] as number[], billable: [] as number[] };
    for (let t = from; t < to; t += MINUTE_MS) {
      const s = t / 1000;
      out.minutes.push(s);
      out.requests.push(rows.get(s)?.requests ?? 0);
      out.billable.push(rows.get(s)?.billable ?? 0);
    }
    reply.header('cache-control', 'no-store');
    return out;
  }

  private currentMonth(): string {
    return billingMonthOf(this.clock.now(), this.config.usage.billingTimezone);
  }

  /** The requested month, or the current one; a malformed month answers 400 and returns undefined. */
  private monthOr(requested: string | undefined, reply: FastifyReply, req: WithConsoleSession): string | undefined {
    if (requested === undefined || requested === '') return this.currentMonth();
    if (MONTH_RE.test(requested)) return requested;
    this.page(reply, req, '', 'error', { title: 'Bad month', heading: 'Bad month', message: `Not a month: ${JSON.stringify(requested)} (expected YYYY-MM).`, month: this.currentMonth() }, 400);
    return undefined;
  }

  private page(reply: FastifyReply, req: WithConsoleSession, page: string, view: string, data: Record<string, unknown>, status = 200): void {
    this.html(reply, status, view, { ...data, page, session: req.consoleSession });
  }

  private html(reply: FastifyReply, status: number, view: string, data: Record<string, unknown>): void {
    const body = this.views.render(view, { chart: false, session: undefined, month: undefined, error: undefined, ...data, generatedAt: new Date(this.clock.now()).toISOString() });
    void reply.code(status).header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store').send(body);
  }
}

function isHttps(req: WithConsoleSession): boolean {
  const forwarded = req.headers['x-forwarded-proto'];
  return req.protocol === 'https' || (typeof forwarded === 'string' && forwarded.split(',')[0].trim() === 'https');
}
