// Accounting findings of issue 10 against a real PostgreSQL, with an injected clock: usage goes
// through the real buffer and flush, packages through the services the admin API calls, numbers
// come back from the one drawdown engine. Every expected number is a literal worked out by hand
// in the comment beside it — never an output of the meter's own functions.
import { loadConfig } from '../src/config/config';
import { ManualClock } from '../src/common/clock';
import { openDatabase, OpenedDatabase } from '../src/database/database';
import { MetricsService } from '../src/metrics/metrics.service';
import { OperationName } from '../src/frs/operations';
import { UsageRepository } from '../src/usage/usage.repository';
import { UsageService } from '../src/usage/usage.service';
import { CallPackagesRepository } from '../src/drawdown/call-packages.repository';
import { QpsPackagesRepository } from '../src/drawdown/qps-packages.repository';
import { CallPackagesService } from '../src/quota/call-packages.service';
import { QuotaService } from '../src/quota/quota.service';
import { QpsCoordinator } from '../src/quota/qps-coordination';
import { parseCallPackage } from '../src/quota/quota.dto';
import { createTestDatabase } from './support/db';
import { buildDrawdown } from './support/drawdown';

const ENV = { FRS_ENDPOINT: 'http://127.0.0.1:1', HUAWEICLOUD_SDK_AK: 'ak', HUAWEICLOUD_SDK_SK: 'sk', FRS_METER_SECRET_KEY: '0123456789abcdef' };
const DAY = 86_400_000;

let db: { url: string; drop(): Promise<void> };
let opened: OpenedDatabase;

beforeAll(async () => {
  db = await createTestDatabase('accounting');
  opened = await openDatabase({ url: db.url, dataDir: '', embeddedPort: 0 });
});

afterAll(async () => {
  await opened?.close();
  await db?.drop();
});

beforeEach(async () => {
  await opened.dataSource.query('TRUNCATE usage_counts, usage_minute_totals, usage_month_totals, usage_flushes, call_packages, qps_packages');
});

function world(start: string, env: Record<string, string> = {}) {
  const config = loadConfig({ ...ENV, ...env });
  const clock = new ManualClock(start, { frozen: true });
  const ds = opened.dataSource;
  const metrics = new MetricsService(config);
  const drawdown = buildDrawdown(config, clock, ds);
  const usage = new UsageService(config, clock, new UsageRepository(ds), metrics, drawdown);
  const qpsRepo = new QpsPackagesRepository(ds);
  return {
    config,
    clock,
    usage,
    drawdown,
    quota: new QuotaService(config, clock, metrics, qpsRepo, new QpsCoordinator(config, ds, metrics)),
    packages: new CallPackagesService(config, clock, metrics, new CallPackagesRepository(ds), drawdown),
  };
}
type World = ReturnType<typeof world>;

/** `n` valid calls at the clock's time (one minute of usage), then a flush. */
async function calls(w: World, operation: OperationName, n: number, app = 'app-a'): Promise<void> {
  for (let i = 0; i < n; i++) w.usage.buffer.recordAttempt(w.clock.now(), app, operation, 200, 'none', 'success', true);
  await w.usage.flush();
}

describe('packages like Huawei', () => {
  it('finding 4: a QPS renewal registered ahead leaves the current package in force until it starts', async () => {
    const w = world('2026-06-01T00:00:00+08:00');
    await w.quota.putPackage('face_detect', { qps: 50, startsAt: w.clock.now(), expiresAt: Date.parse('2026-07-01T00:00:00+08:00') });
    w.clock.set('2026-06-20T10:00:00+08:00');
    await w.quota.putPackage('face_detect', { qps: 10, startsAt: Date.parse('2026-07-01T00:00:00+08:00'), expiresAt: Date.parse('2026-08-01T00:00:00+08:00') });
    w.clock.set('2026-06-25T10:00:00+08:00');
    expect(w.quota.quotaFor('face_detect', w.clock.now())).toBe(50);
    expect(w.quota.quotaFor('face_detect', Date.parse('2026-07-02T00:00:00+08:00'))).toBe(10);
    const listed = (await w.quota.list()).find((q) => q.operation === 'face_detect');
    expect(listed).toMatchObject({ quota: 50, package: { qps: 50, status: 'active' }, scheduled: { qps: 10, status: 'scheduled' } });
    // 10,000 calls on 06-25, all under the 50-QPS package: none free, none pay-per-use.
    await calls(w, 'face_detect', 10_000);
    const detect = (await w.drawdown.attribute('2026-06')).find((a) => a.operation === 'face_detect');
    expect(detect).toMatchObject({ valid_calls: 10_000, qps_package: 10_000, free_tier: 0, pay_per_use: 0 });
  });

  it('finding 5: a call package is corrected (PUT) and removed (DELETE) instead of registered twice', async () => {
    const w = world('2026-06-10T10:00:00+08:00');
    const input = (body: object) => parseCallPackage({ operations: ['face_compare'], expires_at: '2026-12-31T00:00:00+08:00', ...body }, w.config, w.clock.now(), 'cp-1');
    await w.packages.register(parseCallPackage({ id: 'cp-1', operations: ['face_compare'], total_calls: 100_000, expires_at: '2026-12-31T00:00:00+08:00' }, w.config, w.clock.now()));
    // Huawei shows 30,000 used: 100,000 − 30,000 = 70,000 left (not 170,000 from a second registration).
    const { before, after } = await w.packages.correct(input({ total_calls: 100_000, used_calls: 30_000 }));
    expect(before.remaining_calls).toBe(100_000);
    expect(after).toMatchObject({ id: 'cp-1', total_calls: 100_000, used_calls: 30_000, remaining_calls: 70_000 });
    expect((await w.packages.list()).map((p) => [p.id, p.remaining_calls])).toEqual([['cp-1', 70_000]]);
    await expect(w.packages.correct(parseCallPackage({ operations: ['face_compare'], total_calls: 5, expires_at: '2026-12-31T00:00:00+08:00' }, w.config, w.clock.now(), 'nope'))).rejects.toMatchObject({ status: 404 });
    expect(await w.packages.remove('cp-1')).toMatchObject({ id: 'cp-1', remaining_calls: 70_000 });
    expect(await w.packages.list()).toEqual([]);
    await expect(w.packages.remove('cp-1')).rejects.toMatchObject({ status: 404 });
  });

  it('finding 6: calls metered in the window before used_as_of are the package\'s, not pay-per-use', async () => {
    const w = world('2026-06-01T09:00:00+08:00', { FRS_METER_FREE_TIER_CALLS: '0' });
    // 28,000 face_detect calls on 06-01 .. 06-10 (2,800 a day), before the package is registered.
    for (let d = 0; d < 10; d++) {
      w.clock.set(Date.parse('2026-06-01T09:00:00+08:00') + d * DAY);
      await calls(w, 'face_detect', 2_800);
    }
    // Registered on 06-15 with Huawei's balance of that day: 28,000 of 200,000 used.
    w.clock.set('2026-06-15T10:00:00+08:00');
    const view = await w.packages.register(
      parseCallPackage({ id: 'cp-june', operations: ['face_detect'], total_calls: 200_000, used_calls: 28_000, starts_at: '2026-06-01T00:00:00+08:00', expires_at: '2027-06-01T00:00:00+08:00' }, w.config, w.clock.now()),
    );
    // 200,000 − 28,000 = 172,000 left; the 28,000 metered calls are the ones in used_calls.
    expect(view).toMatchObject({ remaining_calls: 172_000, used_calls_metered: 28_000, drawn_calls: 0 });
    const june = (await w.drawdown.attribute('2026-06')).find((a) => a.operation === 'face_detect');
    expect(june).toMatchObject({ valid_calls: 28_000, call_package: 28_000, pay_per_use: 0 });
    // 500 more calls after registration are drawn from the balance: 172,000 − 500 = 171,500.
    w.clock.set('2026-06-16T10:00:00+08:00');
    await calls(w, 'face_detect', 500);
    expect((await w.packages.list())[0]).toMatchObject({ remaining_calls: 171_500, drawn_calls: 500 });
  });

  it('finding 11: exhausted_at is the minute the last call was drawn, not the start of the day', async () => {
    const w = world('2026-09-11T00:00:00Z');
    await w.packages.register(parseCallPackage({ id: 'cp-small', operations: ['face_search'], total_calls: 100, expires_at: '2027-01-01T00:00:00Z' }, w.config, w.clock.now()));
    // 150 calls at 20:00Z: the 100th empties the package in that minute.
    w.clock.set('2026-09-11T20:00:00Z');
    await calls(w, 'face_search', 150);
    // Seen a day later, when the day is one settled chunk.
    w.clock.set('2026-09-12T21:00:00Z');
    expect((await w.packages.list())[0]).toMatchObject({ remaining_calls: 0, status: 'exhausted', exhausted_at: '2026-09-11T20:00:00.000Z' });
  });

  it('finding 7: the forecast moves the demand onto the call package when the QPS package expires', async () => {
    const w = world('2026-03-01T12:00:00Z', { FRS_METER_FORECAST_WINDOW_DAYS: '7' });
    // QPS package 03-01 .. 03-10; call package of 100,000 registered 03-01.
    await w.quota.putPackage('face_compare', { qps: 100, startsAt: Date.parse('2026-03-01T00:00:00Z'), expiresAt: Date.parse('2026-03-10T12:00:00Z') });
    await w.packages.register(parseCallPackage({ id: 'cp-after-qps', operations: ['face_compare'], total_calls: 100_000, expires_at: '2027-01-01T00:00:00Z' }, w.config, w.clock.now()));
    // 50,000 calls a day for 7 days, all inside the QPS package's rate (no overflow).
    for (let d = 1; d <= 7; d++) {
      w.clock.set(Date.parse('2026-03-01T12:00:00Z') + d * DAY - 60_000);
      await calls(w, 'face_compare', 50_000);
    }
    // Now 03-08 12:00: the QPS package ends in 2 days (03-10 12:00). Demand over the 7-day
    // window: 350,000 calls / 7 days = 50,000 a day; from 03-10 12:00 they all reach the call
    // package: 100,000 / 50,000 = 2 days → 03-12 12:00.
    w.clock.set('2026-03-08T12:00:00Z');
    const [p] = await w.packages.list();
    expect(p).toMatchObject({ remaining_calls: 100_000, exhaustion_forecast: '2026-03-12T12:00:00.000Z' });
  });
});
