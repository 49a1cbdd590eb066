// Builds the drawdown engine service on a real data source, as DrawdownModule wires it.
import { DataSource } from 'typeorm';
import { Config } from '../../src/config/config';
import { Clock } from '../../src/common/clock';
import { DrawdownService } from '../../src/drawdown/drawdown.service';
import { DrawdownRunner } from '../../src/drawdown/drawdown-runner';
import { UsageChunksRepository } from '../../src/drawdown/usage-chunks.repository';
import { CallPackagesRepository } from '../../src/drawdown/call-packages.repository';
import { QpsPackagesRepository } from '../../src/drawdown/qps-packages.repository';
import type { PriceTable } from '../../src/drawdown/price-table';

export function buildDrawdown(config: Config, clock: Clock, ds: DataSource, prices?: PriceTable): DrawdownService {
  return new DrawdownService(config, clock, new CallPackagesRepository(ds), new QpsPackagesRepository(ds), new DrawdownRunner(new UsageChunksRepository(ds), clock), prices);
}
