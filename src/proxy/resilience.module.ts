// The proxy's decision-makers for timeouts and retries (issue #4), as shared singletons: the
// forward loop feeds and asks them; GET /admin/timeouts and the gauges read them. Plain classes
// built by factories, so unit specs construct them without Nest.

import { Module } from '@nestjs/common';
import { CONFIG, Config } from '../config/config';
import { Clock } from '../common/clock';
import { MetricsService } from '../metrics/metrics.service';
import { TimeoutsController } from '../admin/timeouts.controller';
import { LatencyTracker } from './latency-tracker';
import { TimeoutPolicy } from './timeout-policy';
import { RetryPolicy } from './retry-policy';
import { RetryBudget } from './retry-budget';

@Module({
  controllers: [TimeoutsController],
  providers: [
    { provide: LatencyTracker, useFactory: (c: Config, m: MetricsService, clock: Clock) => new LatencyTracker(c, m, clock), inject: [CONFIG, MetricsService, Clock] },
    { provide: TimeoutPolicy, useFactory: (c: Config, l: LatencyTracker, m: MetricsService, clock: Clock) => new TimeoutPolicy(c, l, m, clock), inject: [CONFIG, LatencyTracker, MetricsService, Clock] },
    { provide: RetryPolicy, useFactory: (c: Config) => new RetryPolicy(c), inject: [CONFIG] },
    { provide: RetryBudget, useFactory: (c: Config) => new RetryBudget(c), inject: [CONFIG] },
  ],
  exports: [LatencyTracker, TimeoutPolicy, RetryPolicy, RetryBudget],
})
export class ResilienceModule {}
