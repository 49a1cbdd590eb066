// Forecasts for finance (src/insights): reads the drawdown engine and the metered history, owns
// no accounting rule of its own.

import { Module } from '@nestjs/common';
import { DrawdownModule } from '../drawdown/drawdown.module';
import { ForecastService } from './forecast.service';
import { InsightsController } from './insights.controller';
import { AdviceService } from './advice.service';
import { PeakHarvester } from './peak-harvester';
import { QuotaModule } from '../quota/quota.module';

@Module({
  imports: [DrawdownModule, QuotaModule],
  controllers: [InsightsController],
  providers: [ForecastService, AdviceService, PeakHarvester],
  exports: [ForecastService],
})
export class InsightsModule {}
