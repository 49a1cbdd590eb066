// QPS quotas and shaping, QPS packages, call packages (balances and forecasts from the drawdown engine).

import { Module } from '@nestjs/common';
import { DrawdownModule } from '../drawdown/drawdown.module';
import { UsageCoreModule } from '../usage/usage-core.module';
import { QuotaService } from './quota.service';
import { QpsCoordinator } from './qps-coordination';
import { QuotaController } from './quota.controller';
import { CallPackagesService } from './call-packages.service';

@Module({
  imports: [DrawdownModule, UsageCoreModule],
  controllers: [QuotaController],
  providers: [QuotaService, QpsCoordinator, CallPackagesService],
  exports: [QuotaService, QpsCoordinator, CallPackagesService],
})
export class QuotaModule {}
