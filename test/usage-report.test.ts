// The usage report against a real PostgreSQL: requests, upstream attempts and billable calls
// side by side (a retried call shows as one request and two attempts), errors by code, free
// calls, the cost attribution and the per-app split.
import { loadConfig } from '../src/config/config';
import { ManualClock } from '../src/common/clock';
import { openDatabase, OpenedDatabase } from '../src/database/database';
import { MetricsService } from '../src/metrics/metrics.service';
import { UsageRepository } from '../src/usage/usage.repository';
import { UsageService } from '../src/usage/usage.service';
import { UsageReportRepository } from '../src/usage/usage-report.repository';
import { countsCell, UsageReportService } from '../src/usage/usage-report.service';
import { parsePriceTable } from '../src/drawdown/price-table';
import { buildDrawdown } from './support/drawdown';
import { createTestDatabase } from './support/db';

const ENV = { FRS_ENDPOINT: 'http://127.0.0.1:1', HUAWEICLOUD_SDK_AK: 'ak', HUAWEICLOUD_SDK_SK: 'sk', FRS_METER_SECRET_KEY: '0123456789abcdef' };

let db: { url: string; drop(): Promise<void> };
let opened: OpenedDatabase;

beforeAll(async () => {
  db = await createTestDatabase('report');
  opened = await openDatabase({ url: db.url, dataDir: '', embeddedPort: 0 });
});

afterAll(async () => {
  await opened?.close();
  await db?.drop();
});

function build(clock: ManualClock) {
  const config = loadConfig(ENV);
  const ds = opened.dataSource;
  const metrics = new MetricsService(config);
  const usageRepo = new UsageRepository(ds);
  const prices = parsePriceTable({ currency: 'CNY', operations: { '*': [{ upTo: null, unitPrice: '0.01' }] } });
  const drawdown = buildDrawdown(config, clock, ds, prices);
  const usage = new UsageService(config, clock, usageRepo, metrics, drawdown);
  return { usage, report: new UsageReportService(config, clock, usage, new UsageReportRepository(ds), drawdown) };
}

describe('usage report', () => {
  it('shows requests vs upstream attempts vs billable calls, errors by code, free calls, attribution and apps', async () => {
    const clock = new ManualClock('2026-11-30T23:59:00+08:00', { frozen: true });
    const { usage, report } = build(clock);
    const b = usage.buffer;
    // November: 2,000 valid face_detect calls of app "scan".
    for (let i = 0; i < 2000; i++) b.recordAttempt(clock.now(), 'scan', 'face_detect', 200, 'none', 'success', true);
    clock.set('2026-12-01T00:00:00+08:00');
    // December: a call throttled once then retried successfully (1 request, 2 attempts, 1 billable) ...
    b.recordAttempt(clock.now(), 'scan', 'face_detect', 429, 'FRS.0033', 'throttled', false);
    b.recordAttempt(clock.now(), 'scan', 'face_detect', 200, 'none', 'success', true);
    b.recordRequest(clock.now(), 'scan', 'face_detect', 200, 'none', 'success');
    // ... one that failed twice (no bill), a bad-credentials call, and three live_detect calls of app "door".
    b.recordAttempt(clock.now(), 'scan', 'face_detect', 500, 'FRS.0501', 'server_error', false);
    b.recordAttempt(clock.now(), 'scan', 'face_detect', 500, 'FRS.0501', 'server_error', false);
    b.recordRequest(clock.now(), 'scan', 'face_detect', 500, 'FRS.0501', 'server_error');
    b.recordRequest(clock.now(), 'unauthenticated', 'face_detect', 401, 'METER.0401', 'client_error');
    for (let i = 0; i < 3; i++) {
      b.recordAttempt(clock.now(), 'door', 'live_detect', 200, 'none', 'success', true);
      b.recordRequest(clock.now(), 'door', 'live_detect', 200, 'none', 'success');
    }
    clock.set('2026-12-15T12:00:00+08:00');

    const dec = await report.report('2026-12');
    expect(dec).toMatchObject({ month: '2026-12', app: null, billing_timezone: 'Asia/Shanghai', month_in_progress: true });
    const fd = dec.operations.find((o) => o.operation === 'face_detect');
    expect(fd).toEqual({
      operation: 'face_detect',
      billable: true,
      requests: 3,
      upstream_attempts: 4,
      successes: 1,
      billable_calls: 1,
      free_calls_used: 1,
      free_calls_left: 1999,
      possibly_billed: 0,
      errors: { 'FRS.0501': 1, 'METER.0401': 1 },
      upstream_errors: { 'FRS.0033': 1, 'FRS.0501': 2 },
      attribution: { qps_package: 0, call_package: 0, free_tier: 1, pay_per_use: 0, qps_overflow: 0, estimated_cost: '0', currency: 'CNY' },
    });
    expect(countsCell(fd!.upstream_errors)).toBe('FRS.0033:1;FRS.0501:2');
    expect(dec.operations.find((o) => o.operation === 'live_detect')).toMatchObject({
      requests: 3,
      billable_calls: 3,
      free_calls_used: 0,
      free_calls_left: 0,
      attribution: { free_tier: 0, pay_per_use: 3, estimated_cost: '0.03' },
    });
    expect(dec.totals).toMatchObject({ requests: 6, upstream_attempts: 7, successes: 4, billable_calls: 4, pay_per_use: 3, estimated_cost: '0.03', currency: 'CNY' });
    expect(dec.apps).toEqual([
      // door: 3 live_detect (no free calls) × 0.01 = 0.03; scan: its one valid call was free.
      { app: 'door', requests: 3, upstream_attempts: 3, billable_calls: 3, estimated_cost: '0.03', operations: { live_detect: { requests: 3, upstream_attempts: 3, billable_calls: 3, estimated_cost: '0.03' } } },
      { app: 'scan', requests: 2, upstream_attempts: 4, billable_calls: 1, estimated_cost: '0', operations: { face_detect: { requests: 2, upstream_attempts: 4, billable_calls: 1, estimated_cost: '0' } } },
      { app: 'unauthenticated', requests: 1, upstream_attempts: 0, billable_calls: 0, estimated_cost: null, operations: { face_detect: { requests: 1, upstream_attempts: 0, billable_calls: 0, estimated_cost: null } } },
    ]);

    const nov = await report.report('2026-11');
    expect(nov.month_in_progress).toBe(false);
    expect(nov.operations.find((o) => o.operation === 'face_detect')).toMatchObject({ billable_calls: 2000, free_calls_left: 0, attribution: { free_tier: 2000, pay_per_use: 0 } });

    const door = await report.report('2026-12', 'door');
    expect(door.operations.find((o) => o.operation === 'face_detect')).toMatchObject({ requests: 0, billable_calls: 0, free_calls_used: 1 });
    expect(door.apps.map((a) => a.app)).toEqual(['door']);

    await expect(report.report('2026-13')).rejects.toMatchObject({ response: { error_code: 'METER.0400' } });
  });
});
