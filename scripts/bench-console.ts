// `npm run bench:console`: a benchmark, not a test. Fills a fresh database with last month and
// this month so far of metered usage for 50 apps (every app calls three operations; one usage row
// per app, operation and kind every BENCH_CONSOLE_EVERY_MIN minutes, 10 by default, plus every
// minute of the last 24 hours for the chart), syncs last month's bill from the emulator, then
// times each console page and the admin route it shares services with (request to last byte,
// logged in, over HTTP on localhost) and prints p50 / p95 / max.
//
// With DATABASE_URL it makes (and drops) its own database on that server; otherwise it runs on
// embedded PostgreSQL in a temporary folder.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { request } from 'undici';
import { loadConfig } from '../src/config/config';
import { startService } from '../src/app';
import { ensureDatabase } from '../src/database/database';
import { DEMO_CREDENTIALS, startEmulator } from '../src/emulator/emulator';
import { billingMonthOf } from '../src/common/billing-month';
import { bssPlugin } from '../src/emulator/bss/bss-plugin';

const APPS = 50;
const EVERY_MIN = Number(process.env.BENCH_CONSOLE_EVERY_MIN ?? 10);
const ROUNDS = Number(process.env.BENCH_CONSOLE_ROUNDS ?? 30);
const ADMIN = 'bench-console-admin-token';
const READONLY = 'bench-console-readonly-token';
const OPERATIONS = ['face_detect', 'face_compare', 'face_search'];

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'frs-meter-bench-console-'));
  let dbUrl: string | undefined;
  const server = process.env.DATABASE_URL;
  const dbName = `frs_console_bench_${randomBytes(4).toString('hex')}`;
  if (server) dbUrl = await ensureDatabase(server, dbName);
  const emulator = await startEmulator({ credentials: [DEMO_CREDENTIALS], log: () => undefined, plugins: [bssPlugin()] });
  const config = loadConfig({
    PORT: '0',
    FRS_METER_HOST: '127.0.0.1',
    FRS_METER_DATA_DIR: dataDir,
    FRS_ENDPOINT: emulator.url,
    FRS_PROJECT_ID: 'bench0000000000000000000000000001',
    BSS_ENDPOINT: emulator.url,
    HUAWEICLOUD_SDK_AK: DEMO_CREDENTIALS.ak,
    HUAWEICLOUD_SDK_SK: DEMO_CREDENTIALS.sk,
    FRS_METER_ADMIN_TOKEN: ADMIN,
    FRS_METER_READONLY_TOKENS: READONLY,
    FRS_METER_SECRET_KEY: 'bench-console-secret-key-0001',
    FRS_METER_BILLING_SYNC: 'off',
    ...(dbUrl ? { DATABASE_URL: dbUrl } : {}),
  });
  const service = await startService({ config, logger: ['error'] });
  const base = service.url;
  const now = Date.now();
  const month = billingMonthOf(now, config.usage.billingTimezone);
  try {
    // Last month in full and this month so far, a row every EVERY_MIN minutes (billing month in
    // the billing time zone), plus every minute of the last 24 h for the chart.
    const ds = service.database.dataSource;
    const tz = config.usage.billingTimezone;
    const [y, m] = month.split('-').map(Number);
    const previous = m === 1 ? `${y - 1}-12` : `${y}-${String(m - 1).padStart(2, '0')}`;
    const t0 = performance.now();
    await ds.query(
      `INSERT INTO usage_counts (minute, billing_month, app, operation, kind, code, error_code, outcome, count, billable)
       SELECT m, to_char(m AT TIME ZONE $6, 'YYYY-MM'), 'app-' || lpad(a::text, 2, '0'), op, k, 200, 'none', 'success', 1 + (a % 7), CASE WHEN k = 'attempt' THEN 1 + (a % 7) ELSE 0 END
       FROM generate_series(($1 || '-01 00:00')::timestamp AT TIME ZONE $6, $2::timestamptz - interval '1 day', make_interval(mins => $3)) AS m,
            generate_series(1, ${APPS}) AS a, unnest($4::text[]) AS op, unnest($5::text[]) AS k
       ON CONFLICT DO NOTHING`,
      [previous, new Date(now), EVERY_MIN, OPERATIONS, ['request', 'attempt'], tz],
    );
    await ds.query(
      `INSERT INTO usage_counts (minute, billing_month, app, operation, kind, code, error_code, outcome, count, billable)
       SELECT date_trunc('minute', m), to_char(m AT TIME ZONE $4, 'YYYY-MM'), 'app-' || lpad(a::text, 2, '0'), op, k, 200, 'none', 'success', 1, CASE WHEN k = 'attempt' THEN 1 ELSE 0 END
       FROM generate_series($1::timestamptz - interval '1 day', $1::timestamptz, interval '1 minute') AS m,
            generate_series(1, ${APPS}) AS a, unnest($2::text[]) AS op, unnest($3::text[]) AS k
       ON CONFLICT DO NOTHING`,
      [new Date(now), OPERATIONS, ['request', 'attempt'], tz],
    );
    // The month totals the flush keeps in step (migration 1764001000000), rebuilt for the seed.
    await ds.query('DELETE FROM usage_month_totals');
    await ds.query(
      `INSERT INTO usage_month_totals (billing_month, app, operation, kind, code, error_code, outcome, count, billable)
       SELECT billing_month, app, operation, kind, code, error_code, outcome, SUM(count), SUM(billable) FROM usage_counts GROUP BY 1, 2, 3, 4, 5, 6, 7`,
    );
    // And the per-minute totals behind the chart (migration 1764001400000), rebuilt the same way.
    await ds.query('DELETE FROM usage_minute_totals');
    await ds.query(
      `INSERT INTO usage_minute_totals (minute, requests, billable)
       SELECT minute, COALESCE(SUM(count) FILTER (WHERE kind = 'request'), 0), COALESCE(SUM(billable) FILTER (WHERE kind = 'attempt'), 0) FROM usage_counts GROUP BY minute`,
    );
    await ds.query('ANALYZE usage_counts');
    await ds.query('ANALYZE usage_month_totals');
    await ds.query('ANALYZE usage_minute_totals');
    const [{ n }] = await ds.query('SELECT count(*)::bigint AS n FROM usage_counts');
    console.log(`seeded ${Number(n).toLocaleString('en-US')} usage rows for ${APPS} apps in ${((performance.now() - t0) / 1000).toFixed(1)} s (${previous} in full and ${month} so far, a row every ${EVERY_MIN} min; every minute of the last 24 h)`);
    const synced = await request(`${base}/admin/billing/sync`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ month: previous }),
    });
    await synced.body.text();
    if (synced.statusCode !== 200) console.log(`billing sync answered ${synced.statusCode}; the reconciliation page shows an unsynced month`);

    const login = await request(`${base}/console/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${READONLY}` });
    await login.body.dump();
    const cookie = String(login.headers['set-cookie']).split(';')[0];
    // A full past month, and the running one (This month adds the forecast there).
    const pages = [`/console/month?month=${previous}`, `/console/month?month=${month}`, `/console/apps?month=${previous}`, `/console/reconciliation?month=${previous}`, '/console/packages', '/console/audit', '/console/data/calls-per-minute'];
    // The admin API routes the pages read the same services as, for comparison.
    const api = [`/admin/usage?month=${previous}`, `/admin/reconciliation/${previous}`, `/admin/forecast?month=${month}`, '/admin/qps-packages', '/admin/call-packages', '/admin/audit'];
    console.log(`\n${ROUNDS} sequential requests per page after 3 warm-up requests (ms, request to last byte):`);
    console.log(`  ${'page'.padEnd(42)} ${'p50'.padStart(7)} ${'p95'.padStart(7)} ${'max'.padStart(7)}  bytes`);
    for (const p of [...pages, ...api]) {
      const times: number[] = [];
      let bytes = 0;
      const headers = p.startsWith('/admin/') ? { authorization: `Bearer ${READONLY}` } : { cookie };
      for (let i = 0; i < ROUNDS + 3; i++) {
        const s = performance.now();
        const res = await request(`${base}${p}`, { headers });
        const body = await res.body.text();
        if (res.statusCode !== 200) throw new Error(`${p} answered ${res.statusCode}: ${body.slice(0, 200)}`);
        if (i >= 3) times.push(performance.now() - s);
        bytes = body.length;
      }
      times.sort((a, b) => a - b);
      const f = (v: number): string => v.toFixed(1).padStart(7);
      console.log(`  ${p.padEnd(42)} ${f(pct(times, 50))} ${f(pct(times, 95))} ${f(times[times.length - 1])}  ${bytes}`);
    }
  } finally {
    await service.close();
    await emulator.close();
    if (server) {
      const c = new Client({ connectionString: server });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
      await c.end();
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`bench-console failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
