// GET /admin/advice: per billable operation, what QPS package and call package sizes would have
// cost over a month (default: the current one so far), against pay-per-use. Volumes and free calls
// are the drawdown engine's; per-second peaks come from qps_second_peaks (PeakHarvester); sizes
// and prices from FRS_METER_PACKAGE_OFFERS_FILE, which frs-meter does not ship: prices are the
// operator's to enter. The arithmetic is advisor.ts.

import { Inject, Injectable } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { DataSource } from 'typeorm';
import { CONFIG, Config } from '../config/config';
import { Clock } from '../common/clock';
import { billingMonthOf, monthRange, MONTH_RE } from '../common/billing-month';
import { DATA_SOURCE } from '../database/database';
import { OperationName } from '../frs/operations';
import { DrawdownService } from '../drawdown/drawdown.service';
import { advise, OperationAdvice, Offers, parseOffers } from './advisor';
import { ForecastInputError } from './forecast.service';

export interface Advice {
  readonly month: string;
  readonly currency: string | null;
  readonly offers_file: string | null;
  readonly operations: OperationAdvice[];
  readonly notes: string[];
}

@Injectable()
export class AdviceService {
  private readonly offers?: Offers;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly clock: Clock,
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    private readonly drawdown: DrawdownService,
  ) {
    const file = config.insights.offersFile;
    // A bad offers file stops the start, naming the variable.
    if (file) this.offers = parseOffers(JSON.parse(readFileSync(file, 'utf8')), `FRS_METER_PACKAGE_OFFERS_FILE (${file})`);
  }

  async advice(month?: string): Promise<Advice> {
    const tz = this.config.usage.billingTimezone;
    const m = month ?? billingMonthOf(this.clock.now(), tz);
    if (!MONTH_RE.test(m)) throw new ForecastInputError(`not a month: ${JSON.stringify(m)} (expected YYYY-MM)`);
    const notes = [
      'QPS packages do not add up (two 10-QPS packages are not 20 QPS) and each is bound to one project: one size per operation is advised.',
      'Per-second peaks are counted per frs-meter replica; with several replicas the real peaks are higher than shown.',
      'Overflow calls are priced as the month\'s first paid calls after the free calls; the sizes and prices are those of FRS_METER_PACKAGE_OFFERS_FILE.',
    ];
    if (!this.offers) notes.unshift('no FRS_METER_PACKAGE_OFFERS_FILE: no package sizes or prices to compare; only the observed numbers are shown');
    const prices = this.drawdown.priceTable;
    if (!prices) notes.unshift('no price table (FRS_METER_PRICE_TABLE_FILE): pay-per-use costs are unknown');
    const state = await this.drawdown.state(m);
    const free = new Map(this.drawdown.freeCallsOf(state).map((f) => [f.operation, f.allowance]));
    const range = monthRange(m, tz);
    const rows: { operation: string; calls: number; seconds: string }[] = await this.db.query(
      `SELECT operation, calls, SUM(seconds)::bigint AS seconds FROM qps_second_peaks WHERE minute >= $1 AND minute < $2 GROUP BY 1, 2`,
      [new Date(range.start), new Date(range.end)],
    );
    const peaks = new Map<string, Map<number, number>>();
    for (const r of rows) {
      let h = peaks.get(r.operation);
      if (!h) peaks.set(r.operation, (h = new Map()));
      h.set(r.calls, Number(r.seconds));
    }
    const offers: Offers = this.offers ?? { currency: prices?.currency ?? '', qps_packages: [], call_packages: [] };
    const operations = this.drawdown
      .attributionOf(state)
      .filter((a) => a.valid_calls > 0 || peaks.has(a.operation))
      .map((a) =>
        advise(
          {
            operation: a.operation as OperationName,
            monthCalls: a.valid_calls,
            freeCalls: free.get(a.operation) ?? 0,
            peaks: peaks.get(a.operation) ?? new Map(),
            payPerUse: (n) => (prices ? prices.cost(a.operation, 1, n) : null),
          },
          offers,
        ),
      );
    return { month: m, currency: prices?.currency ?? this.offers?.currency ?? null, offers_file: this.config.insights.offersFile ?? null, operations, notes };
  }
}
