// Which bucket each valid call of a billing month fell to (QPS package, call package, free tier,
// pay-per-use, in FRS_METER_DRAWDOWN_ORDER) and the estimated pay-per-use cost from the
// operator's price table. Used by the usage report and by billing reconciliation.

import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import Decimal from 'decimal.js';
import { CONFIG, Config, isBillable } from '../config/config';
import { Clock } from '../common/clock';
import { billingMonthOf, monthRange, MONTH_RE } from '../common/billing-month';
import { OPERATIONS, OperationName } from '../frs/operations';
import { UsageService } from '../usage/usage.service';
import { chunkBounds, DrawdownEngine, meteredFrom, qpsWindows } from './drawdown';
import { DrawdownRunner } from './drawdown-runner';
import { CallPackagesRepository } from './call-packages.repository';
import { QpsPackagesRepository } from './qps-packages.repository';
import { loadPriceTable, PriceTable } from './price-table';

const MINUTE = 60_000;

export interface OperationAttribution {
  operation: OperationName;
  valid_calls: number;
  qps_package: number;
  call_package: number;
  free_tier: number;
  pay_per_use: number;
  /** Estimated pay-per-use cost as a decimal string; null without a price for the operation. */
  estimated_cost: string | null;
  currency: string | null;
}

export const PRICE_TABLE = Symbol('PRICE_TABLE');

/** The price table named by FRS_METER_PRICE_TABLE_FILE, read once at start; a bad file stops the start. */
export function priceTableProvider(config: Config): PriceTable | undefined {
  if (!config.usage.priceTableFile) return undefined;
  const table = loadPriceTable(config.usage.priceTableFile);
  if (table.example) {
    new Logger('CostAttribution').warn(`${config.usage.priceTableFile} is marked as an example: its prices are made up, and so are the cost estimates`);
  }
  return table;
}

@Injectable()
export class CostAttributionService {
  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly clock: Clock,
    private readonly callRepo: CallPackagesRepository,
    private readonly qpsRepo: QpsPackagesRepository,
    private readonly runner: DrawdownRunner,
    private readonly usage: UsageService,
    @Optional() @Inject(PRICE_TABLE) private readonly prices?: PriceTable,
  ) {}

  /** Per billable operation, the month's valid calls (of `app`, if given) split by bucket. */
  async attribute(month: string, app?: string): Promise<OperationAttribution[]> {
    if (!MONTH_RE.test(month)) throw new Error(`not a month: ${month} (expected YYYY-MM)`);
    const tz = this.config.usage.billingTimezone;
    const range = monthRange(month, tz);
    await this.usage.flush();
    const now = this.clock.now();
    const end = Math.min(range.end, now - (now % MINUTE) + MINUTE);
    const engineCollect = new Map<OperationName, { qps: number; call: number; free: number; pay: number; cost: Decimal }>();
    if (end > range.start) {
      const defs = (await this.callRepo.list()).filter((p) => meteredFrom(p) < end);
      const first = Math.min(range.start, ...defs.map(meteredFrom));
      const start = monthRange(billingMonthOf(first, tz), tz).start;
      const windows = qpsWindows(await this.qpsRepo.overlapping(start, end));
      const instants: number[] = [range.start];
      for (const p of defs) instants.push(meteredFrom(p), p.expiresAt);
      for (const w of windows) instants.push(w.from, w.to);
      const engine = new DrawdownEngine(this.config, defs, windows, { collect: { from: range.start, to: range.end }, prices: this.prices });
      await this.runner.run(engine, chunkBounds(start, end, instants, tz));
      for (const [op, byApp] of engine.attribution) {
        for (const [a, s] of byApp) {
          if (app !== undefined && a !== app) continue;
          let acc = engineCollect.get(op);
          if (!acc) engineCollect.set(op, (acc = { qps: 0, call: 0, free: 0, pay: 0, cost: new Decimal(0) }));
          acc.qps += s.qps_package;
          acc.call += s.call_package;
          acc.free += s.free_tier;
          acc.pay += s.pay_per_use;
          if (s.cost) acc.cost = acc.cost.plus(s.cost);
        }
      }
    }
    return OPERATIONS.filter((o) => isBillable(this.config, o.name)).map((o) => {
      const a = engineCollect.get(o.name) ?? { qps: 0, call: 0, free: 0, pay: 0, cost: new Decimal(0) };
      const priced = this.prices?.covers(o.name) ?? false;
      return {
        operation: o.name,
        valid_calls: a.qps + a.call + a.free + a.pay,
        qps_package: a.qps,
        call_package: a.call,
        free_tier: a.free,
        pay_per_use: a.pay,
        estimated_cost: priced ? a.cost.toFixed() : null,
        currency: priced ? (this.prices?.currency ?? null) : null,
      };
    });
  }
}
