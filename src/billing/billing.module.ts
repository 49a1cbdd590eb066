// Bills from Huawei BSS into Postgres, the sync schedule, the billing gauges and the
// reconciliation for finance. Needs ScheduleModule.forRoot() in the app (SchedulerRegistry).

import { Module } from '@nestjs/common';
import { CONFIG, Config } from '../config/config';
import { Clock } from '../common/clock';
import { QuotaModule } from '../quota/quota.module';
import { DrawdownModule } from '../drawdown/drawdown.module';
import { UsageCoreModule } from '../usage/usage-core.module';
import { BssClient } from './bss-client';
import { BillingRepository } from './billing.repository';
import { BillingSyncService, createBssClient } from './billing-sync.service';
import { BillingScheduler } from './billing.scheduler';
import { BillingMetrics } from './billing.metrics';
import { BillingReportService } from './billing-report.service';
import { ReconciliationService } from './reconciliation.service';
import { BillingController } from './billing.controller';
import { CostCenterRepository } from './cost-center.repository';
import { CostCenterSyncService } from './cost-center-sync.service';

@Module({
  imports: [DrawdownModule, UsageCoreModule, QuotaModule],
  controllers: [BillingController],
  providers: [
    { provide: BssClient, useFactory: (config: Config, clock: Clock) => createBssClient(config, clock), inject: [CONFIG, Clock] },
    BillingRepository,
    BillingSyncService,
    BillingScheduler,
    BillingMetrics,
    BillingReportService,
    ReconciliationService,
    CostCenterRepository,
    CostCenterSyncService,
  ],
  exports: [BillingSyncService, ReconciliationService, BillingScheduler],
})
export class BillingModule {}
