// QPS quotas and shaping, QPS packages, call packages and cost attribution.

import { Module } from '@nestjs/common';
import { CONFIG, Config } from '../config/config';
import { UsageCoreModule } from '../usage/usage-core.module';
import { QuotaService } from './quota.service';
import { QpsCoordinator } from './qps-coordination';
import { QuotaController } from './quota.controller';
import { QpsPackagesRepository } from './qps-packages.repository';
import { CallPackagesRepository } from './call-packages.repository';
import { CallPackagesService } from './call-packages.service';
import { UsageChunksRepository } from './usage-chunks.repository';
import { DrawdownRunner } from './drawdown-runner';
import { CostAttributionService, PRICE_TABLE, priceTableProvider } from './cost-attribution.service';

@Module({
  imports: [UsageCoreModule],
  controllers: [QuotaController],
  providers: [
    QuotaService,
    QpsCoordinator,
    QpsPackagesRepository,
    CallPackagesRepository,
    CallPackagesService,
    UsageChunksRepository,
    DrawdownRunner,
    CostAttributionService,
    { provide: PRICE_TABLE, useFactory: (config: Config) => priceTableProvider(config), inject: [CONFIG] },
  ],
  exports: [QuotaService, CallPackagesService, CostAttributionService],
})
export class QuotaModule {}
