// Forecasts for finance (src/insights): reads the drawdown engine and the metered history, owns
// no accounting rule of its own.

import { Module } from '@nestjs/common';
import { DrawdownModule } from '../drawdown/drawdown.module';
import { ForecastService } from './forecast.service';
import { InsightsController } from './insights.controller';

@Module({
  imports: [DrawdownModule],
  controllers: [InsightsController],
  providers: [ForecastService],
  exports: [ForecastService],
})
export class InsightsModule {}
