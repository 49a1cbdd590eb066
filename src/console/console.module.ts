// The console at /console (see console.controller.ts); the session door is console.setup.ts.

import { Module } from '@nestjs/common';
import { UsageModule } from '../usage/usage.module';
import { BillingModule } from '../billing/billing.module';
import { QuotaModule } from '../quota/quota.module';
import { BudgetsModule } from '../budgets/budgets.module';
import { InsightsModule } from '../insights/insights.module';
import { ConsoleController } from './console.controller';

@Module({
  imports: [UsageModule, BillingModule, QuotaModule, BudgetsModule, InsightsModule],
  controllers: [ConsoleController],
})
export class ConsoleModule {}
