// The usage buffer, its flush loop and the stored monthly totals: what the proxy, the quota and
// the billing module need. It hands its flush to the drawdown engine below it.

import { Module } from '@nestjs/common';
import { DrawdownModule } from '../drawdown/drawdown.module';
import { UsageRepository } from './usage.repository';
import { UsageService } from './usage.service';

@Module({
  imports: [DrawdownModule],
  providers: [UsageRepository, UsageService],
  exports: [UsageRepository, UsageService],
})
export class UsageCoreModule {}
