import { Module } from '@nestjs/common';
import { AppsModule } from '../apps/apps.module';
import { UsageModule } from '../usage/usage.module';
import { QuotaModule } from '../quota/quota.module';
import { BudgetsModule } from '../budgets/budgets.module';
import { UpstreamAuth } from '../frs/upstream-auth';
import { ResilienceModule } from './resilience.module';
import { ProxyService } from './proxy.service';
import { UpstreamClient } from './upstream.client';

@Module({
  imports: [AppsModule, UsageModule, QuotaModule, ResilienceModule, BudgetsModule],
  providers: [UpstreamAuth, UpstreamClient, ProxyService],
  exports: [ProxyService, UpstreamAuth],
})
export class ProxyModule {}
