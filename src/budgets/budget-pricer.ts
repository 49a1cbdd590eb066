// The marginal cost of an app's next call, for currency budgets. It is not computed here: it is
// the drawdown engine's (src/drawdown, the one engine behind free calls, package balances and
// cost attribution) marginal() on a run of the month that this pricer holds on its own
// (DrawdownService.ownState), and each admitted call is then applied to that engine as one more
// valid call, so the free tier, package coverage and the tier price of the following call are
// exactly what attribution will give them. `next()` is the one place budgets touch the engine.
//
// The run is rebuilt from the database every FRS_METER_BUDGET_REFRESH_MS. Calls this replica
// priced that the database may not hold yet (still in flight, or finished after the flush the
// rebuild waited for) are applied again to the new run; calls that failed are not, so a failed
// call stops counting at the next rebuild. Bound: calls of other replicas not yet flushed are not
// in the run, so with several replicas the position of a call in the month (free calls left,
// price tier) can be off by the calls they made in the last flush interval.

import { Inject, Injectable } from '@nestjs/common';
import { CONFIG, Config } from '../config/config';
import { monthRange } from '../common/billing-month';
import Decimal from 'decimal.js';
import { Clock } from '../common/clock';
import { OperationName } from '../frs/operations';
import { DrawdownService, DrawdownState } from '../drawdown/drawdown.service';
import { UsageService } from '../usage/usage.service';
import { PriceTable } from '../drawdown/price-table';

const MINUTE = 60_000;
const ZERO = new Decimal(0);

/** One call priced and applied to the run; settled once the call's fate is known. */
export interface PricedCall {
  readonly operation: OperationName;
  readonly app: string;
  readonly t: number;
  /** Sequence number at settling; undefined while the call is in flight. */
  settled?: number;
  kept?: boolean;
}

@Injectable()
export class BudgetPricer {
  private state?: DrawdownState;
  private monthEnd = 0;
  /** Calls applied to the run since the last rebuild, to apply again to the next one when not in the database yet. */
  private applied: PricedCall[] = [];
  private seq = 0;
  private loading: Promise<void> = Promise.resolve();

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly drawdown: DrawdownService,
    private readonly clock: Clock,
    private readonly usage: UsageService,
  ) {}

  get prices(): PriceTable | undefined {
    return this.drawdown.priceTable;
  }

  /** A fresh run of the month from the database (this replica's usage flushed first). */
  /** Loads run one after another, so each carries over what the previous one kept. */
  load(): Promise<void> {
    const next = this.loading.catch(() => undefined).then(() => this.rebuild());
    this.loading = next;
    return next;
  }

  private async rebuild(): Promise<void> {
    // A flush already running may have taken the buffer before the latest calls were recorded;
    // the second one starts (and takes the buffer) right after `mark`, so every call settled
    // before the mark is in the database. Calls settled after it are applied again below; the
    // few of them the second flush also wrote count twice until the next rebuild (priced high,
    // never low).
    await this.usage.flush();
    const mark = ++this.seq;
    await this.usage.flush();
    const state = await this.drawdown.ownState();
    const range = monthRange(state.month, this.config.usage.billingTimezone);
    // In flight, or kept after the mark: not (surely) in the database yet. Failed ones drop out.
    const carry = this.applied.filter((c) => c.t >= range.start && (c.settled === undefined || (c.kept === true && c.settled > mark)));
    for (const c of carry) this.apply(state, c.operation, c.app, c.t);
    this.applied = carry;
    this.state = state;
    this.monthEnd = range.end;
  }

  get loaded(): boolean {
    return this.state !== undefined && this.clock.now() < this.monthEnd;
  }

  /**
   * Hot path (currency budgets only): what one more valid call of `operation` by `app` costs now
   * (the engine's marginal cost), then counted in the engine as made. Undefined when no run of
   * this month is loaded.
   */
  next(operation: OperationName, app: string, nowMs: number): { cost: Decimal; call: PricedCall } | undefined {
    const state = this.state;
    if (!state || nowMs >= this.monthEnd) return undefined;
    const t = Math.max(nowMs, state.at);
    const cost = state.engine.marginal(operation, t).amount ?? ZERO;
    this.apply(state, operation, app, t);
    const call: PricedCall = { operation, app, t };
    this.applied.push(call);
    return { cost, call };
  }

  /** The call was billed (or may have been): `kept`; else it stops counting at the next rebuild. */
  settle(call: PricedCall, kept: boolean): void {
    call.settled = ++this.seq;
    call.kept = kept;
  }

  private apply(state: DrawdownState, operation: OperationName, app: string, t: number): void {
    const at = Math.max(t, state.at);
    const from = at - (at % MINUTE);
    state.engine.apply({ from, to: from + MINUTE, rows: [{ operation, app, n: 1 }] });
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

