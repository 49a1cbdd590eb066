// Call packages, QPS packages and cost attribution against a real PostgreSQL, with an injected
// clock: usage goes through the real usage buffer and flush, balances and attribution are read
// back from usage_counts.
import * as path from 'node:path';
import { DataSource } from 'typeorm';
import { Config, loadConfig } from '../src/config/config';
import { ManualClock } from '../src/common/clock';
import { openDatabase, OpenedDatabase } from '../src/database/database';
import { MetricsService } from '../src/metrics/metrics.service';
import { OperationName } from '../src/frs/operations';
import { UsageRepository } from '../src/usage/usage.repository';
import { UsageService } from '../src/usage/usage.service';
import { CallPackagesRepository } from '../src/drawdown/call-packages.repository';
import { CallPackagesService } from '../src/quota/call-packages.service';
import { DrawdownService } from '../src/drawdown/drawdown.service';
import { loadPriceTable } from '../src/drawdown/price-table';
import { QpsPackagesRepository } from '../src/drawdown/qps-packages.repository';
import { QuotaService } from '../src/quota/quota.service';
import { QpsCoordinator } from '../src/quota/qps-coordination';
import { parseCallPackage } from '../src/quota/quota.dto';
import { buildDrawdown } from './support/drawdown';
import { parseMetrics, sum } from './support/metrics';
import { createTestDatabase } from './support/db';

const ENV = { FRS_ENDPOINT: 'http://127.0.0.1:1', HUAWEICLOUD_SDK_AK: 'ak', HUAWEICLOUD_SDK_SK: 'sk', FRS_METER_SECRET_KEY: '0123456789abcdef' };
const DAY = 86_400_000;

interface World {
  config: Config;
  clock: ManualClock;
  metrics: MetricsService;
  usage: UsageService;
  quota: QuotaService;
  packages: CallPackagesService;
  attribution: DrawdownService;
  ds: DataSource;
}

let db: { url: string; drop(): Promise<void> };
let opened: OpenedDatabase;

beforeAll(async () => {
  db = await createTestDatabase('quota');
  opened = await openDatabase({ url: db.url, dataDir: '', embeddedPort: 0 });
});

afterAll(async () => {
  await opened?.close();
  await db?.drop();
});

beforeEach(async () => {
  await opened.dataSource.query('TRUNCATE usage_counts, usage_minute_totals, usage_flushes, call_packages, qps_packages');
});

/** A service instance as a replica would build it; a second call is "after a restart". */
function world(start: string, env: Record<string, string> = {}, clock = new ManualClock(start, { frozen: true })): World {
  const config = loadConfig({ ...ENV, ...env });
  const ds = opened.dataSource;
  const metrics = new MetricsService(config);
  const qpsRepo = new QpsPackagesRepository(ds);
  const callRepo = new CallPackagesRepository(ds);
  const prices = config.usage.priceTableFile ? loadPriceTable(config.usage.priceTableFile) : undefined;
  const drawdown = buildDrawdown(config, clock, ds, prices);
  const usage = new UsageService(config, clock, new UsageRepository(ds), metrics, drawdown);
  return {
    config,
    clock,
    metrics,
    usage,
    ds,
    quota: new QuotaService(config, clock, metrics, qpsRepo, new QpsCoordinator(config, ds, metrics)),
    packages: new CallPackagesService(config, clock, metrics, callRepo, drawdown),
    attribution: drawdown,
  };
}

/** `n` valid calls at the clock's time, through the usage buffer and one flush. */
async function calls(w: World, operation: OperationName, n: number, app = 'app-a'): Promise<void> {
  for (let i = 0; i < n; i++) w.usage.buffer.recordAttempt(w.clock.now(), app, operation, 200, 'none', 'success', true);
  await w.usage.flush();
}

async function gauge(w: World, name: string, labels: Record<string, string>): Promise<number> {
  return sum(parseMetrics((await w.metrics.scrape()).body), name, labels);
}

describe('cost attribution', () => {
  it('makes the 2,001st valid face_detect of the month the first pay-per-use one, priced; live_detect never gets free calls', async () => {
    const w = world('2026-03-05T10:00:00+08:00', { FRS_METER_PRICE_TABLE_FILE: path.join(__dirname, '../config/prices.example.json') });
    await calls(w, 'face_detect', 1999, 'app-a');
    w.clock.advance(60_000);
    await calls(w, 'face_detect', 1, 'app-b'); // the 2,000th: still free
    w.clock.advance(60_000);
    await calls(w, 'face_detect', 1, 'app-a'); // the 2,001st
    await calls(w, 'live_detect', 7, 'app-b');
    // Last month's calls do not use this month's free calls.
    w.clock.set('2026-02-28T23:59:00+08:00');
    await calls(w, 'face_detect', 3000);
    w.clock.set('2026-03-31T12:00:00+08:00');

    const all = await w.attribution.attribute('2026-03');
    const fd = all.find((a) => a.operation === 'face_detect');
    const ld = all.find((a) => a.operation === 'live_detect');
    expect(fd).toEqual({ operation: 'face_detect', valid_calls: 2001, qps_package: 0, call_package: 0, free_tier: 2000, pay_per_use: 1, qps_overflow: 0, possibly_billed: 0, estimated_cost: '0.0045', currency: 'CNY' });
    expect(ld).toMatchObject({ valid_calls: 7, free_tier: 0, pay_per_use: 7, estimated_cost: '0.0861' });
    expect(all.find((a) => a.operation === 'face_compare')).toMatchObject({ valid_calls: 0, estimated_cost: '0' });
    expect(all.some((a) => a.operation === 'face_list')).toBe(false);

    const appA = await w.attribution.attribute('2026-03', 'app-a');
    const appB = await w.attribution.attribute('2026-03', 'app-b');
    expect(appA.find((a) => a.operation === 'face_detect')).toMatchObject({ valid_calls: 2000, free_tier: 1999, pay_per_use: 1 });
    expect(appB.find((a) => a.operation === 'face_detect')).toMatchObject({ valid_calls: 1, free_tier: 1, pay_per_use: 0 });

    expect((await w.attribution.attribute('2026-02')).find((a) => a.operation === 'face_detect')).toMatchObject({ free_tier: 2000, pay_per_use: 1000 });
  });

  it('puts calls made under a QPS package, and then a call package, before the free tier', async () => {
    const w = world('2026-04-01T09:00:00+08:00');
    await w.quota.putPackage('face_search', { qps: 30, startsAt: w.clock.now(), expiresAt: w.clock.now() + DAY });
    await calls(w, 'face_search', 100);
    await w.packages.register(parseCallPackage({ id: 'cp-search', operations: ['face_search'], total_calls: 50, expires_at: '2027-04-01T00:00:00+08:00' }, w.config, w.clock.now()));
    w.clock.advance(2 * DAY);
    await calls(w, 'face_search', 80);
    expect((await w.attribution.attribute('2026-04')).find((a) => a.operation === 'face_search')).toMatchObject({
      valid_calls: 180,
      qps_package: 100,
      call_package: 50,
      free_tier: 30,
      pay_per_use: 0,
      estimated_cost: null,
    });
  });
});

describe('QPS packages', () => {
  it('keeps one package per operation: a new one replaces the old, and the answer says so', async () => {
    const w = world('2026-05-01T00:00:00Z');
    const t = w.clock.now();
    const first = await w.quota.putPackage('face_detect', { qps: 20, startsAt: t, expiresAt: t + 30 * DAY });
    expect(first.replaced).toBeNull();
    expect(w.quota.quotaFor('face_detect', t)).toBe(20);
    const second = await w.quota.putPackage('face_detect', { qps: 50, startsAt: t, expiresAt: t + 60 * DAY });
    expect(second.replaced).toMatchObject({ qps: 20, expires_at: new Date(t + 30 * DAY).toISOString() });
    expect(second.package).toMatchObject({ operation: 'face_detect', qps: 50, status: 'active' });
    expect(w.quota.quotaFor('face_detect', t)).toBe(50); // not 70: packages do not add up
    const rows = await w.ds.query(`SELECT count(*)::int AS n FROM qps_packages WHERE operation = 'face_detect' AND replaced_at IS NULL`);
    expect(rows[0].n).toBe(1);
    // Another replica sees it after its refresh; past the expiry it falls back to the default.
    const other = world('2026-05-01T00:00:00Z');
    await other.quota.refresh();
    expect(other.quota.quotaFor('face_detect', t + 60 * DAY)).toBe(10);
    expect(other.quota.quotaFor('face_detect', t + 60 * DAY - 1)).toBe(50);
    expect(await gauge(other, 'frs_qps_package_expiry_timestamp_seconds', { operation: 'face_detect' })).toBe((t + 60 * DAY) / 1000);
    expect(await gauge(other, 'frs_qps_quota', { operation: 'face_detect' })).toBe(50);
  });
});

describe('call packages', () => {
  it('gives exact remaining calls and exhaustion forecast at a known burn rate, after a restart too', async () => {
    const T0 = Date.parse('2026-06-01T00:00:00Z');
    const w = world('2026-05-31T23:00:00Z');
    await calls(w, 'face_detect', 500); // before registration: covered by used_calls, not drawn again
    w.clock.set(T0);
    const view = await w.packages.register(
      parseCallPackage(
        { id: 'cp-2026', operations: ['face_detect'], total_calls: 10_000, used_calls: 0, starts_at: '2026-05-01T00:00:00Z', expires_at: '2027-05-01T00:00:00Z' },
        w.config,
        w.clock.now(),
      ),
    );
    expect(view).toMatchObject({ remaining_calls: 10_000, status: 'active', exhaustion_forecast: null });
    const day = async (d: number) => {
      w.clock.set(T0 + d * DAY + 12 * 3_600_000);
      await calls(w, 'face_detect', 1000);
      await calls(w, 'face_compare', 40); // not in the package
    };
    for (let d = 0; d < 3; d++) await day(d);

    w.clock.set(T0 + 3 * DAY);
    const [p] = await w.packages.list();
    expect(p).toMatchObject({ id: 'cp-2026', drawn_calls: 3000, remaining_calls: 7000, burn_rate_per_day: 1000, forecast_window_days: 3 });
    expect(p.exhaustion_forecast).toBe(new Date(T0 + 10 * DAY).toISOString());
    expect(await gauge(w, 'frs_call_package_remaining_calls', { package: 'cp-2026' })).toBe(7000);
    expect(await gauge(w, 'frs_call_package_total_calls', { package: 'cp-2026' })).toBe(10_000);
    expect(await gauge(w, 'frs_call_package_expiry_timestamp_seconds', { package: 'cp-2026' })).toBe(Date.parse('2027-05-01T00:00:00Z') / 1000);
    expect(await gauge(w, 'frs_call_package_exhaustion_timestamp_seconds', { package: 'cp-2026' })).toBe((T0 + 10 * DAY) / 1000);

    // Eight days in, the burn-rate window is the configured 7 days, not the whole history.
    for (let d = 3; d < 8; d++) await day(d);
    const restarted = world('2026-06-09T00:00:00Z');
    const [q] = await restarted.packages.list();
    expect(q).toMatchObject({ drawn_calls: 8000, remaining_calls: 2000, burn_rate_per_day: 1000, forecast_window_days: 7 });
    expect(q.exhaustion_forecast).toBe(new Date(T0 + 10 * DAY).toISOString());

    for (let d = 8; d < 11; d++) await day(d);
    w.clock.set(T0 + 11 * DAY);
    const [done] = await w.packages.list();
    expect(done).toMatchObject({ drawn_calls: 10_000, remaining_calls: 0, status: 'exhausted', exhaustion_forecast: null, exhausted_at: new Date(T0 + 9 * DAY + 12 * 3_600_000).toISOString() });
    // June in Asia/Shanghai started at 2026-05-31T16:00Z, so the 500 calls before registration are June's too.
    expect((await w.attribution.attribute('2026-06')).find((a) => a.operation === 'face_detect')).toMatchObject({ call_package: 10_000, free_tier: 1500, pay_per_use: 0 });
  });

  it('counts used_calls at registration, draws the earliest-expiring package first and rejects a duplicate id', async () => {
    const w = world('2026-07-10T00:00:00Z');
    const reg = (body: object) => w.packages.register(parseCallPackage(body, w.config, w.clock.now()));
    await reg({ id: 'long', operations: ['face_compare', 'face_detect'], total_calls: 1000, used_calls: 100, expires_at: '2027-07-01T00:00:00Z' });
    await reg({ id: 'short', operations: ['face_compare'], total_calls: 50, used_calls: 10, expires_at: '2026-08-01T00:00:00Z' });
    await calls(w, 'face_compare', 60);
    await calls(w, 'face_detect', 5);
    const list = await w.packages.list();
    expect(list.map((p) => [p.id, p.drawn_calls, p.remaining_calls, p.status])).toEqual([
      ['short', 40, 0, 'exhausted'],
      ['long', 25, 875, 'active'],
    ]);
    await expect(reg({ id: 'short', operations: ['face_detect'], total_calls: 5, expires_at: '2027-01-01T00:00:00Z' })).rejects.toMatchObject({
      response: { error_code: 'METER.0400', error_msg: expect.stringContaining('already exists') },
    });
    const rows = await w.ds.query(`SELECT total_calls FROM call_packages WHERE id = 'short'`);
    expect(rows).toEqual([{ total_calls: '50' }]);
  });
});
