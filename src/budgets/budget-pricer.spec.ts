// BudgetPricer across a rebuild of its drawdown run: calls the database may not hold yet are
// carried over, failed ones drop out. The "database" is a stub that holds the calls the test
// says were flushed; the engine is the real one. Prices and free calls are literals.

import Decimal from 'decimal.js';
import { loadConfig } from '../config/config';
import { ManualClock } from '../common/clock';
import { billingMonthOf, monthRange } from '../common/billing-month';
import { DrawdownEngine } from '../drawdown/engine';
import { parsePriceTable } from '../drawdown/price-table';
import type { DrawdownService, DrawdownState } from '../drawdown/drawdown.service';
import type { UsageService } from '../usage/usage.service';
import { BudgetPricer, PricedCall } from './budget-pricer';

const ENV = { FRS_ENDPOINT: 'http://127.0.0.1:1', HUAWEICLOUD_SDK_AK: 'ak', HUAWEICLOUD_SDK_SK: 'sk', FRS_METER_SECRET_KEY: '0123456789abcdef', FRS_METER_FREE_TIER_CALLS: '2' };

describe('BudgetPricer', () => {
  it('prices by the engine, carries in-flight and late-kept calls over a rebuild, drops failed ones', async () => {
    const config = loadConfig(ENV);
    const clock = new ManualClock('2026-03-10T08:00:00.000Z', { frozen: true });
    // face_detect: the 1st pay-per-use call of the month at 0.01, every later one at 0.02.
    const prices = parsePriceTable({ currency: 'CNY', operations: { face_detect: [{ upTo: 1, unitPrice: '0.01' }, { upTo: null, unitPrice: '0.02' }] } });
    const month = billingMonthOf(clock.now(), config.usage.billingTimezone);
    const range = monthRange(month, config.usage.billingTimezone);
    let inDatabase = 0;
    const ownState = async (): Promise<DrawdownState> => {
      const engine = new DrawdownEngine(config, [], [], { collect: { from: range.start, to: range.end }, prices });
      if (inDatabase > 0) engine.apply({ from: clock.now() - (clock.now() % 60_000), to: clock.now() - (clock.now() % 60_000) + 60_000, rows: [{ operation: 'face_detect', app: 'a', n: inDatabase }] });
      return { at: clock.now(), month, engine, balances: engine.balances, windows: [], offeredPerMs: new Map(), overflowPerMs: new Map(), windowDays: new Map() } as DrawdownState;
    };
    const hooks: { onSecondFlush?: () => void } = {};
    let flushes = 0;
    const usage = { flush: async () => (++flushes % 2 === 0 ? hooks.onSecondFlush?.() : undefined) } as unknown as UsageService;
    const pricer = new BudgetPricer(config, { ownState, priceTable: prices } as unknown as DrawdownService, clock, usage);
    await pricer.load();
    const next = () => pricer.next('face_detect', 'a', clock.now())!;

    const c1 = next(); // free call 1 of 2
    pricer.settle(c1.call, true);
    inDatabase = 1; // flushed
    const c2 = next(); // free call 2 of 2, still in flight
    const c3 = next(); // pay-per-use #1 at 0.01 ...
    pricer.settle(c3.call, false); // ... but it failed upstream: not billed
    expect([c1.cost, c2.cost, c3.cost].map((d) => d.toFixed())).toEqual(['0', '0', '0.01']);

    // c2 succeeds while the rebuild waits for its flush, after the mark: not in that flush.
    hooks.onSecondFlush = () => pricer.settle((c2 as { call: PricedCall }).call, true);
    await pricer.load();
    // The new run holds c1 (database) + c2 (carried), not c3: the next call is pay-per-use #1 → 0.01.
    const c4 = next();
    expect(c4.cost).toEqual(new Decimal('0.01'));
    // And the one after is #2 → 0.02.
    expect(next().cost.toFixed()).toBe('0.02');
  });
});
