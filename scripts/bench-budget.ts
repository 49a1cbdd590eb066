// Admission cost per call with a budget set (issue 12), in-process: BudgetsService.admit + settle
// at steady state, i.e. with the lease held in memory, as every call but one per block sees it.
// The repository is a stand-in that grants one large block (the once-per-block database
// statement is not what is measured); the price path runs the real drawdown engine.
//
//   npx ts-node --transpile-only scripts/bench-budget.ts

import Decimal from 'decimal.js';
import { loadConfig } from '../src/config/config';
import { SystemClock } from '../src/common/clock';
import { billingMonthOf, monthRange } from '../src/common/billing-month';
import { MetricsService } from '../src/metrics/metrics.service';
import { DrawdownEngine } from '../src/drawdown/engine';
import { parsePriceTable } from '../src/drawdown/price-table';
import { BudgetsService } from '../src/budgets/budgets.service';
import { BudgetPricer } from '../src/budgets/budget-pricer';
import type { Budget, BudgetsRepository } from '../src/budgets/budgets.repository';
import type { DrawdownService, DrawdownState } from '../src/drawdown/drawdown.service';
import type { QpsCoordinator } from '../src/quota/qps-coordination';
import type { UsageService } from '../src/usage/usage.service';

export async function budgetAdmissionCost(): Promise<{ callsUs: number; amountUs: number; noBudgetUs: number }> {
  const config = loadConfig({ FRS_ENDPOINT: 'http://127.0.0.1:1', HUAWEICLOUD_SDK_AK: 'a', HUAWEICLOUD_SDK_SK: 'b', FRS_METER_SECRET_KEY: '0123456789abcdef', FRS_METER_FREE_TIER_CALLS: '0' });
  const clock = new SystemClock();
  const metrics = new MetricsService(config);
  const prices = parsePriceTable({ currency: 'CNY', operations: { '*': [{ upTo: 1_000_000, unitPrice: '0.0040' }, { upTo: null, unitPrice: '0.0030' }] } });
  const tz = config.usage.billingTimezone;
  const month = billingMonthOf(clock.now(), tz);
  const range = monthRange(month, tz);
  const run = (): DrawdownState => {
    const engine = new DrawdownEngine(config, [], [], { collect: { from: range.start, to: range.end }, prices });
    return { at: clock.now(), month, engine, balances: engine.balances, windows: [], offeredPerMs: new Map(), overflowPerMs: new Map(), windowDays: new Map() } as DrawdownState;
  };
  const drawdown = { ownState: async () => run(), priceTable: prices, appCosts: () => new Map() } as unknown as DrawdownService;
  const usage = { flush: async () => undefined } as unknown as UsageService;
  const pricer = new BudgetPricer(config, drawdown, clock, usage);
  const budgets: Budget[] = [
    { app: 'calls-app', monthlyCalls: 1e12, monthlyAmount: null, operations: null, action: 'block', alertThresholds: [0.5], updatedAt: 0 },
    { app: 'amount-app', monthlyCalls: null, monthlyAmount: new Decimal('1000000000'), operations: null, action: 'block', alertThresholds: [0.5], updatedAt: 0 },
  ];
  let id = 0;
  const repo = {
    list: async () => budgets,
    grant: async () => ({ id: String(++id), calls: 1e12, amount: new Decimal('1000000000') }),
    giveBack: async () => undefined,
    committed: async () => new Map(),
    billable: async () => [],
  } as unknown as BudgetsRepository;
  const service = new BudgetsService(config, clock, repo, pricer, { replicaId: 'bench' } as QpsCoordinator, metrics, usage);
  await service.refresh();
  for (const app of ['calls-app', 'amount-app']) {
    const first = service.admit(app, 'face_detect');
    await first; // the one grant per block
  }
  // Timed in rounds of 2,000 calls with a rebuild of the pricer's run between them (untimed), as
  // in service: a replica at 1,000 calls/s rebuilds every FRS_METER_BUDGET_REFRESH_MS = 2 s.
  const time = async (app: string, n: number): Promise<number> => {
    let ns = 0n;
    for (let done = 0; done < n; done += 2_000) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < 2_000; i++) {
        const t = service.admit(app, 'face_detect');
        if (t === undefined) continue;
        if (t instanceof Promise || 'refused' in t) throw new Error('bench expected a ticket from the held lease');
        service.settle(t, true);
      }
      ns += process.hrtime.bigint() - t0;
      await pricer.load();
    }
    return Number(ns) / 1000 / n;
  };
  await time('calls-app', 50_000);
  await time('amount-app', 20_000);
  await time('no-budget', 50_000);
  return { callsUs: await time('calls-app', 500_000), amountUs: await time('amount-app', 200_000), noBudgetUs: await time('no-budget', 500_000) };
}

if (require.main === module) {
  budgetAdmissionCost().then((r) => {
    console.log(`  budget admission: ${r.callsUs.toFixed(2)} µs per call with a calls cap, ${r.amountUs.toFixed(2)} µs with a currency cap (drawdown engine's marginal cost + apply), ${r.noBudgetUs.toFixed(3)} µs for an app without a budget; no database round trip (target < 20 µs)`);
  });
}
