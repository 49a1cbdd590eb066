// Shared providers every module may inject: the typed config, the clock, the metrics registry
// and the database. Built once per service instance from what bootstrap already opened.

import { DynamicModule, Global, Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CONFIG, Config } from './config/config';
import { Clock } from './common/clock';
import { MetricsService } from './metrics/metrics.service';
import { DATA_SOURCE } from './database/database';

export interface CoreDeps {
  readonly config: Config;
  readonly clock: Clock;
  readonly metrics: MetricsService;
  readonly dataSource: DataSource;
}

@Global()
@Module({})
export class CoreModule {
  static forRoot(deps: CoreDeps): DynamicModule {
    const providers = [
      { provide: CONFIG, useValue: deps.config },
      { provide: Clock, useValue: deps.clock },
      { provide: MetricsService, useValue: deps.metrics },
      { provide: DATA_SOURCE, useValue: deps.dataSource },
      { provide: DataSource, useValue: deps.dataSource },
    ];
    return { module: CoreModule, providers, exports: providers.map((p) => p.provide) };
  }
}
