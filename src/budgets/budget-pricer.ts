// The marginal cost of an app's next call, for currency budgets. It is not computed here: it is
// the drawdown engine's (src/drawdown, the one engine behind free calls, package balances and
// cost attribution) marginal() on a run of the month that this pricer holds on its own
// (DrawdownService.ownState), and each admitted call is then applied to that engine as one more
// valid call, so the free tier, package coverage and the tier price of the following call are
// exactly what attribution will give them. `next()` is the one place budgets touch the engine.
//
// Bound: the run is rebuilt from the database every FRS_METER_BUDGET_REFRESH_MS (after this
// replica's usage is flushed); calls of other replicas not yet flushed are not in it, so with
// several replicas the position of a call in the month (free calls left, price tier) can be off
// by the calls they made in the last flush interval. A call that fails upstream stays applied
// until the next rebuild.

import { Inject, Injectable } from '@nestjs/common';
import { CONFIG, Config } from '../config/config';
import { monthRange } from '../common/billing-month';
import Decimal from 'decimal.js';
import { Clock } from '../common/clock';
import { OperationName } from '../frs/operations';
import { DrawdownService, DrawdownState } from '../drawdown/drawdown.service';
import { PriceTable } from '../drawdown/price-table';

const MINUTE = 60_000;
const ZERO = new Decimal(0);

@Injectable()
export class BudgetPricer {
  private state?: DrawdownState;
  private monthEnd = 0;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly drawdown: DrawdownService,
    private readonly clock: Clock,
  ) {}

  get prices(): PriceTable | undefined {
    return this.drawdown.priceTable;
  }

  /** A fresh run of the month from the database (this replica's usage flushed first). */
  async load(): Promise<void> {
    const state = await this.drawdown.ownState();
    this.state = state;
    this.monthEnd = monthRange(state.month, this.config.usage.billingTimezone).end;
  }

  get loaded(): boolean {
    return this.state !== undefined && this.clock.now() < this.monthEnd;
  }

  /**
   * Hot path (currency budgets only): what one more valid call of `operation` by `app` costs now
   * (the engine's marginal cost), then counted in the engine as made. Undefined when no run of
   * this month is loaded.
   */
  next(operation: OperationName, app: string, nowMs: number): Decimal | undefined {
    const state = this.state;
    if (!state || nowMs >= this.monthEnd) return undefined;
    const t = Math.max(nowMs, state.at);
    const cost = state.engine.marginal(operation, t).amount ?? ZERO;
    const from = t - (t % MINUTE);
    state.engine.apply({ from, to: from + MINUTE, rows: [{ operation, app, n: 1 }] });
    return cost;
  }

  /** The month's attributed cost of `app`'s calls of `operations` (null = all), as the run has it. */
  spent(app: string, operations: readonly OperationName[] | null): Decimal {
    let total = ZERO;
    if (!this.state) return total;
    for (const [op, cost] of this.drawdown.appCosts(this.state).get(app) ?? []) {
      if (operations && !operations.includes(op)) continue;
      if (cost) total = total.plus(cost);
    }
    return total;
  }
}

