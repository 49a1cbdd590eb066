// Per-app monthly budgets: admin API, leases, enforcement at admission (issue 12).

import { Module } from '@nestjs/common';
import { AppsModule } from '../apps/apps.module';
import { UsageCoreModule } from '../usage/usage-core.module';
import { QuotaModule } from '../quota/quota.module';
import { DrawdownModule } from '../drawdown/drawdown.module';
import { BudgetsController } from './budgets.controller';
import { BudgetsRepository } from './budgets.repository';
import { BudgetsService } from './budgets.service';
import { BudgetPricer } from './budget-pricer';

@Module({
  imports: [AppsModule, UsageCoreModule, QuotaModule, DrawdownModule],
  controllers: [BudgetsController],
  providers: [BudgetsRepository, BudgetsService, BudgetPricer],
  exports: [BudgetsService],
})
export class BudgetsModule {}
