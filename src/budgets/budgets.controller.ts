// PUT/GET/DELETE /admin/apps/{app}/budget (SPEC §8). Changes are audited with the budget as the
// API shows it before and after.

import { Body, Controller, Delete, Get, Inject, Param, Put, UseGuards } from '@nestjs/common';
import { CONFIG, Config } from '../config/config';
import { AdminAuthGuard } from '../admin/admin-auth.guard';
import { Actor, badRequest, notFound } from '../admin/admin-http';
import type { AdminActor } from '../admin/admin-tokens';
import { AuditService } from '../admin/audit.service';
import { AppsService } from '../apps/apps.service';
import { parseBudget } from './budget.dto';
import { BudgetsService } from './budgets.service';
import { BudgetPricer } from './budget-pricer';

/** What the audit trail keeps of a budget: its settings and the month so far, not the lease rows. */
function auditable<T extends { leases?: unknown }>(v: T | null): Omit<T, 'leases'> | null {
  if (!v) return null;
  const { leases: _leases, ...rest } = v;
  return rest;
}

@Controller('admin/apps')
@UseGuards(AdminAuthGuard)
export class BudgetsController {
  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly budgets: BudgetsService,
    private readonly apps: AppsService,
    private readonly pricer: BudgetPricer,
    private readonly audit: AuditService,
  ) {}

  @Put(':app/budget')
  async put(@Param('app') app: string, @Body() body: unknown, @Actor() actor: AdminActor) {
    await this.knownApp(app);
    const input = parseBudget(this.config, body);
    if (input.monthlyAmount !== null) {
      // A currency cap needs the price of every call it counts, or it could not refuse in time.
      const prices = this.pricer.prices;
      if (!prices) throw badRequest('monthly_amount needs a price table (FRS_METER_PRICE_TABLE_FILE): without prices no call can be priced against it');
      const unpriced = (input.operations ?? []).filter((o) => !prices.covers(o));
      if (unpriced.length > 0) throw badRequest(`monthly_amount: the price table has no price for ${unpriced.join(', ')}`);
    }
    const { before, after } = await this.budgets.put(app, input);
    await this.audit.record({ actor, action: 'budget.put', target: app, before: auditable(before), after: auditable(after) });
    return after;
  }

  @Get(':app/budget')
  async get(@Param('app') app: string) {
    await this.knownApp(app);
    return this.budgets.get(app);
  }

  @Delete(':app/budget')
  async remove(@Param('app') app: string, @Actor() actor: AdminActor) {
    await this.knownApp(app);
    const before = await this.budgets.remove(app);
    await this.audit.record({ actor, action: 'budget.delete', target: app, before: auditable(before), after: null });
    return { deleted: before };
  }

  private async knownApp(app: string): Promise<void> {
    if (!(await this.apps.listFresh()).some((a) => a.name === app)) throw notFound(`no app named ${app}`);
  }
}
