// `npx ts-node --transpile-only scripts/backtest-forecast.ts [YYYY-MM …]`: replays the month-end
// forecast on past months in the database (DATABASE_URL; default: every complete month with
// usage) at day 5, 10 and 20, and prints the error of the middle forecast and whether the true
// total fell inside the 80 % interval. The same config (env) as the service.

import { loadConfig } from '../src/config/config';
import { billingMonthOf } from '../src/common/billing-month';
import { createDataSource } from '../src/database/database';
import { priceTableProvider } from '../src/drawdown/drawdown.service';
import { backtest, formatBacktest } from '../src/insights/backtest';

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is required: the backtest reads usage_counts');
  const config = loadConfig(process.env);
  const db = createDataSource(url);
  await db.initialize();
  try {
    const current = billingMonthOf(Date.now(), config.usage.billingTimezone);
    const months =
      process.argv.slice(2).length > 0
        ? process.argv.slice(2)
        : ((await db.query(`SELECT DISTINCT billing_month FROM usage_counts WHERE kind = 'attempt' AND billable > 0 ORDER BY 1`)) as { billing_month: string }[]).map((r) => r.billing_month).filter((m) => m < current);
    if (months.length === 0) {
      console.log('no complete month with usage in the database');
      return;
    }
    console.log(formatBacktest(await backtest(config, db, months, priceTableProvider(config))));
  } finally {
    await db.destroy();
  }
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
