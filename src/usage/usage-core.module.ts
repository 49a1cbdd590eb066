// The usage buffer, its flush loop and the stored monthly totals: what the proxy and the quota
// module both need. The usage report lives in UsageModule, which also needs QuotaModule's cost
// attribution, so this part is its own module to keep the two from importing each other.

import { Module } from '@nestjs/common';
import { UsageRepository } from './usage.repository';
import { UsageService } from './usage.service';

@Module({
  providers: [UsageRepository, UsageService],
  exports: [UsageRepository, UsageService],
})
export class UsageCoreModule {}
