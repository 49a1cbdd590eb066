// Usage metering (buffer, flush, monthly totals) and the usage report at GET /admin/usage.

import { Module } from '@nestjs/common';
import { DrawdownModule } from '../drawdown/drawdown.module';
import { BudgetsModule } from '../budgets/budgets.module';
import { UsageCoreModule } from './usage-core.module';
import { UsageReportService } from './usage-report.service';
import { UsageReportRepository, UsageTimelineRepository } from './usage-report.repository';
import { UsageController } from './usage.controller';

@Module({
  imports: [UsageCoreModule, DrawdownModule, BudgetsModule],
  controllers: [UsageController],
  providers: [UsageReportService, UsageReportRepository, UsageTimelineRepository],
  exports: [UsageCoreModule, UsageReportService, UsageTimelineRepository],
})
export class UsageModule {}
