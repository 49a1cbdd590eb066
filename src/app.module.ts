import { DynamicModule, Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { CoreDeps, CoreModule } from './core.module';
import { AppsModule } from './apps/apps.module';
import { UsageModule } from './usage/usage.module';
import { QuotaModule } from './quota/quota.module';
import { ProxyModule } from './proxy/proxy.module';
import { ResilienceModule } from './proxy/resilience.module';
import { BillingModule } from './billing/billing.module';
import { HealthController } from './health.controller';
import { AdminModule } from './admin/admin.module';
import { ReadinessService } from './readiness.service';
import { ConsoleModule } from './console/console.module';
import { InsightsModule } from './insights/insights.module';

@Module({})
export class AppModule {
  static forRoot(deps: CoreDeps): DynamicModule {
    return {
      module: AppModule,
      imports: [CoreModule.forRoot(deps), ScheduleModule.forRoot(), AdminModule, AppsModule, UsageModule, QuotaModule, ResilienceModule, ProxyModule, BillingModule, ConsoleModule, InsightsModule],
      controllers: [HealthController],
      providers: [ReadinessService],
    };
  }
}
