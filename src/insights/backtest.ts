// Replays the forecast on past months: with the clock set to 00:00 of day 5, 10 and 20 of a month
// (billing time zone), what did the forecast say, and what did the month really bring? The truth
// is the drawdown engine's attribution of the whole month; the forecast sees only what was
// metered before the replayed instant (the engine and the history query stop at "now").

import { DataSource } from 'typeorm';
import { Config } from '../config/config';
import { ManualClock } from '../common/clock';
import { dayStarts } from '../common/billing-month';
import { DrawdownService } from '../drawdown/drawdown.service';
import { DrawdownRunner } from '../drawdown/drawdown-runner';
import { UsageChunksRepository } from '../drawdown/usage-chunks.repository';
import { CallPackagesRepository } from '../drawdown/call-packages.repository';
import { QpsPackagesRepository } from '../drawdown/qps-packages.repository';
import type { PriceTable } from '../drawdown/price-table';
import { MetricsService } from '../metrics/metrics.service';
import { ForecastService } from './forecast.service';

export const BACKTEST_DAYS = [5, 10, 20] as const;

export interface BacktestRow {
  readonly month: string;
  readonly day: number;
  readonly operation: string;
  readonly truth: number;
  readonly p10: number;
  readonly p50: number;
  readonly p90: number;
  /** (p50 − truth) / truth; null when the truth is 0. */
  readonly error: number | null;
  readonly covered: boolean;
}

function services(config: Config, db: DataSource, clock: ManualClock, prices?: PriceTable): { drawdown: DrawdownService; forecast: ForecastService } {
  const drawdown = new DrawdownService(config, clock, new CallPackagesRepository(db), new QpsPackagesRepository(db), new DrawdownRunner(new UsageChunksRepository(db), clock), prices);
  // Its own registry: the backtest's gauges are nobody's business.
  const forecast = new ForecastService(config, clock, db, drawdown, new MetricsService(config));
  return { drawdown, forecast };
}

export async function backtest(config: Config, db: DataSource, months: readonly string[], prices?: PriceTable): Promise<BacktestRow[]> {
  const tz = config.usage.billingTimezone;
  const out: BacktestRow[] = [];
  for (const month of months) {
    const starts = dayStarts(month, tz);
    const after = new ManualClock(starts[starts.length - 1] + 86_400_000 + 60_000, { frozen: true });
    const truth = new Map((await services(config, db, after, prices).drawdown.attribute(month)).map((a) => [a.operation as string, a.valid_calls]));
    for (const day of BACKTEST_DAYS) {
      const clock = new ManualClock(starts[day - 1], { frozen: true });
      const f = await services(config, db, clock, prices).forecast.forecast(month);
      for (const o of f.operations) {
        const t = truth.get(o.operation) ?? 0;
        if (t === 0 && o.calls.p90 === 0) continue;
        out.push({ month, day, operation: o.operation, truth: t, p10: o.calls.p10, p50: o.calls.p50, p90: o.calls.p90, error: t === 0 ? null : (o.calls.p50 - t) / t, covered: o.calls.p10 <= t && t <= o.calls.p90 });
      }
    }
  }
  return out;
}

/** The printed report: one line per month, day and operation, then error and coverage per day. */
export function formatBacktest(rows: readonly BacktestRow[]): string {
  const lines = ['month    day operation          truth      p10      p50      p90   error  in 80%'];
  for (const r of rows) {
    lines.push(
      `${r.month} ${String(r.day).padStart(3)} ${r.operation.padEnd(16)} ${String(r.truth).padStart(8)} ${String(r.p10).padStart(8)} ${String(r.p50).padStart(8)} ${String(r.p90).padStart(8)} ${r.error === null ? '     -' : `${(r.error * 100).toFixed(1).padStart(5)}%`}  ${r.covered ? 'yes' : 'no'}`,
    );
  }
  for (const day of BACKTEST_DAYS) {
    const at = rows.filter((r) => r.day === day);
    const errs = at.map((r) => r.error).filter((e): e is number => e !== null);
    const mae = errs.length ? errs.reduce((s, e) => s + Math.abs(e), 0) / errs.length : NaN;
    const cov = at.length ? at.filter((r) => r.covered).length / at.length : NaN;
    lines.push(`day ${String(day).padStart(2)}: mean absolute error ${Number.isNaN(mae) ? '-' : `${(mae * 100).toFixed(1)}%`}, inside the 80% interval ${at.filter((r) => r.covered).length} of ${at.length}${Number.isNaN(cov) ? '' : ` (${(cov * 100).toFixed(0)}%)`}`);
  }
  return lines.join('\n');
}
