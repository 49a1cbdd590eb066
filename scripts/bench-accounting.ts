// `npm run bench:accounting` (also run at the end of `npm run bench`): the accounting path on a
// month of data — 50 apps × 15 operations, ≥ 3 M usage_counts rows — timed with the real
// repository and report classes against a real Postgres (DATABASE_URL's server in a fresh
// database, else an embedded one). Printed: the flush transaction (a one-second batch written to
// usage_counts and the monthly rollup, and the month's totals read back) and the month report
// (GET /admin/usage's service: rollup totals plus the drawdown engine's attribution), cold (first
// read of the month) and warm (settled chunks cached, as every later report and scrape sees it).
// Targets (issue 10): flush < 20 ms, month report < 200 ms.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx ts-node --transpile-only scripts/bench-accounting.ts

import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { loadConfig } from '../src/config/config';
import { ManualClock } from '../src/common/clock';
import { monthRange } from '../src/common/billing-month';
import { ensureDatabase, openDatabase } from '../src/database/database';
import { EmbeddedPostgres } from '../src/database/embedded-postgres';
import { KNOWN_OPERATIONS } from '../src/frs/operations';
import { MetricsService } from '../src/metrics/metrics.service';
import { UsageBuffer } from '../src/usage/usage.buffer';
import { UsageRepository } from '../src/usage/usage.repository';
import { UsageReportRepository } from '../src/usage/usage-report.repository';
import { UsageReportService } from '../src/usage/usage-report.service';
import { UsageService } from '../src/usage/usage.service';
import { DrawdownService } from '../src/drawdown/drawdown.service';
import { DrawdownRunner } from '../src/drawdown/drawdown-runner';
import { UsageChunksRepository } from '../src/drawdown/usage-chunks.repository';
import { CallPackagesRepository } from '../src/drawdown/call-packages.repository';
import { QpsPackagesRepository } from '../src/drawdown/qps-packages.repository';
import { parsePriceTable } from '../src/drawdown/price-table';

const MONTH = '2026-01';
const APPS = 50;
/** (app, operation) pairs with calls in each minute of the month: 72 × 44,640 minutes ≈ 3.2 M rows. */
const PAIRS_PER_MINUTE = 72;

function ms(ns: bigint): number {
  return Number(ns) / 1e6;
}

function stats(samples: number[]): { p50: number; p95: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: s[Math.floor(s.length * 0.5)], p95: s[Math.floor(s.length * 0.95)], max: s[s.length - 1] };
}

export async function accountingBench(): Promise<{ rows: number; flush: { p50: number; p95: number; max: number }; reportCold: number; reportWarm: { p50: number; p95: number; max: number } }> {
  let embedded: EmbeddedPostgres | undefined;
  let admin = process.env.DATABASE_URL;
  if (!admin) {
    embedded = new EmbeddedPostgres({ dataDir: path.join(mkdtempSync(path.join(tmpdir(), 'frs-meter-bench-acct-')), 'postgres'), port: 0 });
    admin = await embedded.start();
  }
  const name = `frs_bench_acct_${randomBytes(4).toString('hex')}`;
  const url = await ensureDatabase(admin, name);
  const opened = await openDatabase({ url, dataDir: '', embeddedPort: 0 });
  try {
    const ops = KNOWN_OPERATIONS.map((o) => o.name);
    const range = monthRange(MONTH, 'Asia/Shanghai');
    // The data load runs on its own connection, without the service's statement timeout.
    const load = new Client({ connectionString: url });
    await load.connect();
    // A month of minutes: in each, PAIRS_PER_MINUTE (app, operation) pairs with 1–20 valid calls; a day per statement.
    const minutes = Math.round((range.end - range.start) / 60_000);
    for (let from = 0; from < minutes; from += 1440) {
      await load.query(
        `INSERT INTO usage_counts (minute, billing_month, app, operation, kind, code, error_code, outcome, count, billable)
         SELECT to_timestamp($1::bigint / 1000.0) + make_interval(mins => m), $2, 'app-' || ((m * 7 + k) % $3),
                ($4::text[])[1 + ((m + k * 13) % array_length($4::text[], 1))], 'attempt', 200, 'none', 'success', 1 + (m + k) % 20, 1 + (m + k) % 20
         FROM generate_series($5::int, $6::int - 1) AS m, generate_series(0, $7::int - 1) AS k
         ON CONFLICT DO NOTHING`,
        [range.start, MONTH, APPS, ops, from, Math.min(minutes, from + 1440), PAIRS_PER_MINUTE],
      );
    }
    await load.query(
      `INSERT INTO usage_month_totals (billing_month, app, operation, kind, code, error_code, outcome, count, billable)
       SELECT billing_month, app, operation, kind, code, error_code, outcome, SUM(count), SUM(billable) FROM usage_counts GROUP BY 1, 2, 3, 4, 5, 6, 7`,
    );
    await load.query('VACUUM ANALYZE usage_counts');
    await load.query('VACUUM ANALYZE usage_month_totals');
    const { rows: counted } = await load.query(`SELECT count(*)::int AS n FROM usage_counts`);
    const n = counted[0].n as number;
    await load.end();

    const config = loadConfig({ FRS_ENDPOINT: 'http://127.0.0.1:1', HUAWEICLOUD_SDK_AK: 'a', HUAWEICLOUD_SDK_SK: 'b', FRS_METER_SECRET_KEY: '0123456789abcdef' });
    // Late in the month, as a report or a flush on the 31st would run.
    const clock = new ManualClock(range.end - 3_600_000, { frozen: true });
    const ds = opened.dataSource;
    const repo = new UsageRepository(ds);
    const prices = parsePriceTable({ currency: 'CNY', operations: { '*': [{ upTo: null, unitPrice: '0.004' }] } });
    const drawdown = new DrawdownService(config, clock, new CallPackagesRepository(ds), new QpsPackagesRepository(ds), new DrawdownRunner(new UsageChunksRepository(ds), clock), prices);
    const usage = new UsageService(config, clock, repo, new MetricsService(config), drawdown);
    const report = new UsageReportService(config, clock, usage, new UsageReportRepository(ds), drawdown);

    // Flush: one second of traffic across apps and operations (≈ 200 rows), as every replica writes each second.
    const flushMs: number[] = [];
    for (let i = 0; i < 60; i++) {
      const buffer = new UsageBuffer('Asia/Shanghai');
      const t = clock.now() + i * 1000;
      for (let k = 0; k < 400; k++) buffer.recordAttempt(t, `app-${k % APPS}`, ops[k % ops.length], 200, 'none', 'success', true);
      const batch = buffer.take();
      if (!batch) throw new Error('empty batch');
      const t0 = process.hrtime.bigint();
      await repo.applyFlush(batch, 'bench', MONTH);
      flushMs.push(ms(process.hrtime.bigint() - t0));
    }

    let t0 = process.hrtime.bigint();
    await report.report(MONTH);
    const reportCold = ms(process.hrtime.bigint() - t0);
    const warm: number[] = [];
    for (let i = 0; i < 10; i++) {
      t0 = process.hrtime.bigint();
      await report.report(MONTH);
      warm.push(ms(process.hrtime.bigint() - t0));
    }
    return { rows: n, flush: stats(flushMs), reportCold, reportWarm: stats(warm) };
  } finally {
    await opened.close();
    const c = new Client({ connectionString: admin });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => undefined);
    await c.end();
    await embedded?.stop();
  }
}

export function printAccounting(r: Awaited<ReturnType<typeof accountingBench>>): void {
  const f = (x: number) => x.toFixed(1);
  console.log(`  accounting on ${r.rows.toLocaleString('en')} usage rows (a month, 50 apps × 15 operations):`);
  console.log(`    flush (1 s batch + monthly rollup + month totals, one transaction): p50 ${f(r.flush.p50)} ms, p95 ${f(r.flush.p95)} ms, max ${f(r.flush.max)} ms (target < 20 ms)`);
  console.log(`    month report (GET /admin/usage): cold ${f(r.reportCold)} ms, warm p50 ${f(r.reportWarm.p50)} ms, p95 ${f(r.reportWarm.p95)} ms (target < 200 ms)`);
}

if (require.main === module) {
  accountingBench().then(
    (r) => {
      printAccounting(r);
      process.exit(0);
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
