// The drawdown engine and what feeds it (usage_counts, call and QPS package tables, the price
// table): the one module every accounting number comes from. It imports no other feature module,
// so usage, quota and billing can all depend on it without a cycle.

import { Module } from '@nestjs/common';
import { CONFIG, Config } from '../config/config';
import { DrawdownService, PRICE_TABLE, priceTableProvider } from './drawdown.service';
import { DrawdownRunner } from './drawdown-runner';
import { UsageChunksRepository } from './usage-chunks.repository';
import { CallPackagesRepository } from './call-packages.repository';
import { QpsPackagesRepository } from './qps-packages.repository';

@Module({
  providers: [
    DrawdownService,
    DrawdownRunner,
    UsageChunksRepository,
    CallPackagesRepository,
    QpsPackagesRepository,
    { provide: PRICE_TABLE, useFactory: (config: Config) => priceTableProvider(config), inject: [CONFIG] },
  ],
  exports: [DrawdownService, CallPackagesRepository, QpsPackagesRepository, PRICE_TABLE],
})
export class DrawdownModule {}
