// Usage metering against a real Postgres: idempotent flushes, month boundaries in Beijing time,
// totals that survive a restart.

import { request } from 'undici';
import { DataSource } from 'typeorm';
import { ManualClock } from '../src/common/clock';
import { openDatabase, OpenedDatabase } from '../src/database/database';
import { pathFor } from '../src/frs/operations';
import { UsageBatch, UsageBuffer } from '../src/usage/usage.buffer';
import { UsageRepository } from '../src/usage/usage.repository';
import { UsageTimelineRepository } from '../src/usage/usage-report.repository';
import { UsageMinuteTotals1764001400000 } from '../migrations/1764001400000-UsageMinuteTotals';
import { UsageService } from '../src/usage/usage.service';
import { createTestDatabase } from './support/db';
import { buildDrawdown } from './support/drawdown';
import { startStack, Stack } from './support/stack';
import { scrape, sum } from './support/metrics';

async function billableRows(db: DataSource): Promise<Array<{ billing_month: string; operation: string; billable: number }>> {
  const rows = await db.query(
    `SELECT billing_month, operation, SUM(billable)::int AS billable FROM usage_counts WHERE kind = 'attempt' GROUP BY 1, 2 HAVING SUM(billable) > 0 ORDER BY 1, 2`,
  );
  return rows;
}

describe('usage flush (repository)', () => {
  let db: { url: string; drop(): Promise<void> };
  let opened: OpenedDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('usage');
    opened = await openDatabase({ url: db.url, dataDir: '', embeddedPort: 0 });
  });

  afterAll(async () => {
    await opened?.close();
    await db?.drop();
  });

  it('counts a flush retried after its COMMIT exactly once', async () => {
    const buffer = new UsageBuffer('Asia/Shanghai');
    const t = Date.parse('2026-11-10T10:00:00+08:00');
    for (let i = 0; i < 7; i++) buffer.recordAttempt(t + i, 'app-a', 'face_detect', 200, 'none', 'success', true);
    buffer.recordAttempt(t, 'app-a', 'face_detect', 500, 'FRS.0018', 'server_error', false);
    const batch = buffer.take() as UsageBatch;

    // The first try commits, then the connection "drops" before we learn it did.
    class LostAfterCommit extends UsageRepository {
      calls = 0;
      override async applyFlush(b: UsageBatch, replica: string, month: string) {
        const r = await super.applyFlush(b, replica, month);
        if (++this.calls === 1) throw new Error('connection terminated unexpectedly (after COMMIT)');
        return r;
      }
    }
    const flaky = new LostAfterCommit(opened.dataSource);
    await expect(flaky.applyFlush(batch, 'r1', '2026-11')).rejects.toThrow(/after COMMIT/);
    const retried = await flaky.applyFlush(batch, 'r1', '2026-11');
    expect(retried.applied).toBe(false);
    expect(retried.monthBillable.get('face_detect')).toBe(7);
    const counts = await opened.dataSource.query(`SELECT kind, code, count::int, billable::int FROM usage_counts ORDER BY code`);
    expect(counts).toEqual([
      { kind: 'attempt', code: 200, count: 7, billable: 7 },
      { kind: 'attempt', code: 500, count: 1, billable: 0 },
    ]);
  });

  it('keeps a failed batch with its flush id and writes it once the database answers again', async () => {
    const clock = new ManualClock('2026-11-15T12:00:00+08:00', { frozen: true });
    let down = true;
    class Flaky extends UsageRepository {
      override async applyFlush(b: UsageBatch, replica: string, month: string) {
        if (down) throw new Error('ECONNREFUSED');
        return super.applyFlush(b, replica, month);
      }
    }
    const config = { usage: { billingTimezone: 'Asia/Shanghai', flushIntervalMs: 1000, freeTierCalls: 2000, freeTierScope: 'per_operation', freeTierExcluded: ['live_detect'], batchDeleteBillable: true }, server: { shutdownGraceMs: 1000 }, metrics: { durationBuckets: [1] } };
    const { MetricsService } = await import('../src/metrics/metrics.service');
    const usage = new UsageService(config as never, clock, new Flaky(opened.dataSource), new MetricsService(config as never), buildDrawdown(config as never, clock, opened.dataSource));
    for (let i = 0; i < 5; i++) usage.buffer.recordAttempt(clock.now(), 'app-b', 'face_compare', 200, 'none', 'success', true);
    await usage.flush();
    expect(usage.pendingEvents).toBe(5);
    expect(usage.healthy).toBe(false);
    // More traffic while the database is away goes to a new batch; nothing is lost or merged twice.
    for (let i = 0; i < 3; i++) usage.buffer.recordAttempt(clock.now(), 'app-b', 'face_compare', 200, 'none', 'success', true);
    await usage.flush();
    expect(usage.pendingEvents).toBe(8);
    expect(usage.monthBillable().get('face_compare')).toBe(8);
    down = false;
    await usage.flush();
    expect(usage.pendingEvents).toBe(0);
    expect(usage.healthy).toBe(true);
    const [row] = await opened.dataSource.query(`SELECT SUM(billable)::int AS n FROM usage_counts WHERE operation = 'face_compare'`);
    expect(row.n).toBe(8);
    expect(usage.monthBillable().get('face_compare')).toBe(8);
  });

  it('a flush asked for while one is running also writes the calls recorded after that one began', async () => {
    const clock = new ManualClock('2026-11-16T12:00:00+08:00', { frozen: true });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let held = false;
    class Slow extends UsageRepository {
      override async applyFlush(b: UsageBatch, replica: string, month: string) {
        if (!held) {
          held = true;
          await gate; // the first flush stalls inside its database round trip
        }
        return super.applyFlush(b, replica, month);
      }
    }
    const config = { usage: { billingTimezone: 'Asia/Shanghai', flushIntervalMs: 1000, freeTierCalls: 2000, freeTierScope: 'per_operation', freeTierExcluded: ['live_detect'], batchDeleteBillable: true }, server: { shutdownGraceMs: 1000 }, metrics: { durationBuckets: [1] } };
    const { MetricsService } = await import('../src/metrics/metrics.service');
    const usage = new UsageService(config as never, clock, new Slow(opened.dataSource), new MetricsService(config as never), buildDrawdown(config as never, clock, opened.dataSource));
    for (let i = 0; i < 3; i++) usage.buffer.recordAttempt(clock.now(), 'app-slow', 'face_search', 200, 'none', 'success', true);
    const running = usage.flush(); // takes the 3 calls, then waits on the gate
    for (let i = 0; i < 2; i++) usage.buffer.recordAttempt(clock.now(), 'app-slow', 'face_search', 200, 'none', 'success', true);
    const asked = usage.flush(); // must also write the 2 recorded after `running` took the buffer
    release();
    await Promise.all([running, asked]);
    expect(usage.pendingEvents).toBe(0);
    const [row] = await opened.dataSource.query(`SELECT SUM(billable)::int AS n FROM usage_counts WHERE app = 'app-slow'`);
    expect(row.n).toBe(5); // by hand: 3 + 2
  });

  it('adds each flush once, into the minute the calls happened, also a late flush into a past minute', async () => {
    const repo = new UsageRepository(opened.dataSource);
    const timeline = new UsageTimelineRepository(opened.dataSource);
    const m0 = Date.parse('2026-11-20T09:00:00Z');
    const m1 = m0 + 60_000;
    const m2 = m0 + 120_000;

    // Replica r1, minute m1: 3 requests of app-a, each one billable attempt; 1 request of app-b
    // whose one attempt failed (500, not billable).
    const a = new UsageBuffer('Asia/Shanghai');
    for (let i = 0; i < 3; i++) {
      a.recordAttempt(m1 + i, 'app-a', 'face_detect', 200, 'none', 'success', true);
      a.recordRequest(m1 + i, 'app-a', 'face_detect', 200, 'none', 'success');
    }
    a.recordAttempt(m1 + 5, 'app-b', 'face_compare', 500, 'FRS.0018', 'server_error', false);
    a.recordRequest(m1 + 5, 'app-b', 'face_compare', 500, 'FRS.0018', 'server_error');
    // Minute m2: 1 request of app-b that took two attempts, the second billable.
    a.recordAttempt(m2, 'app-b', 'face_detect', 503, 'FRS.0021', 'server_error', false);
    a.recordAttempt(m2 + 1, 'app-b', 'face_detect', 200, 'none', 'success', true);
    a.recordRequest(m2 + 1, 'app-b', 'face_detect', 200, 'none', 'success');
    const first = a.take() as UsageBatch;
    await repo.applyFlush(first, 'r1', '2026-11');
    // The same batch again (a retry after an unknown outcome): nothing added.
    expect((await repo.applyFlush(first, 'r1', '2026-11')).applied).toBe(false);

    // Replica r2 flushes later what it buffered through an outage: minute m0 (2 requests, 2
    // billable) and minute m1 (1 request, 1 billable), which r1 had already written.
    const b = new UsageBuffer('Asia/Shanghai');
    for (const t of [m0, m0 + 1, m1 + 9]) {
      b.recordAttempt(t, 'app-c', 'face_search', 200, 'none', 'success', true);
      b.recordRequest(t, 'app-c', 'face_search', 200, 'none', 'success');
    }
    await repo.applyFlush(b.take() as UsageBatch, 'r2', '2026-11');

    // By hand: m0 = 2 requests / 2 billable; m1 = 3 + 1 (app-b) + 1 (r2) = 5 requests, 3 + 1 = 4
    // billable; m2 = 1 request, 1 billable (the failed attempt is not).
    expect(await timeline.callsPerMinute(m0, m2 + 60_000)).toEqual([
      { minute: m0 / 1000, requests: 2, billable: 2 },
      { minute: m1 / 1000, requests: 5, billable: 4 },
      { minute: m2 / 1000, requests: 1, billable: 1 },
    ]);
    // The range is half-open: [m1, m2) holds only m1.
    expect(await timeline.callsPerMinute(m1, m2)).toEqual([{ minute: m1 / 1000, requests: 5, billable: 4 }]);

    // The migration's backfill (for data flushed before the rollup existed) gives the same rows.
    const runner = opened.dataSource.createQueryRunner();
    try {
      await new UsageMinuteTotals1764001400000().down(runner);
      await new UsageMinuteTotals1764001400000().up(runner);
    } finally {
      await runner.release();
    }
    expect(await timeline.callsPerMinute(m0, m2 + 60_000)).toEqual([
      { minute: m0 / 1000, requests: 2, billable: 2 },
      { minute: m1 / 1000, requests: 5, billable: 4 },
      { minute: m2 / 1000, requests: 1, billable: 1 },
    ]);
  });
});

describe('billing months and restarts (through the proxy)', () => {
  const clock = new ManualClock('2026-11-30T23:59:59+08:00', { frozen: true });
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ clock });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  const detect = async () => {
    const res = await request(`${stack.meterUrl}${pathFor('face_detect', stack.projectId)}`, {
      method: 'POST',
      headers: { 'x-auth-token': stack.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ image_base64: 'aGVsbG8=' }),
    });
    await res.body.dump();
    return res.statusCode;
  };

  it('puts 23:59:59 and 00:00:00 Beijing time on either side of a month boundary', async () => {
    clock.set('2026-11-30T23:59:59+08:00');
    expect(await detect()).toBe(200);
    clock.set('2026-12-01T00:00:00+08:00');
    expect(await detect()).toBe(200);
    expect(await detect()).toBe(200);
    await stack.service.app.get(UsageService).flush();
    expect(await billableRows(stack.service.database.dataSource)).toEqual([
      { billing_month: '2026-11', operation: 'face_detect', billable: 1 },
      { billing_month: '2026-12', operation: 'face_detect', billable: 2 },
    ]);
    // The month gauge shows the current (December) month only.
    const m = await scrape(stack.meterUrl);
    expect(sum(m, 'frs_month_billable_calls', { operation: 'face_detect' })).toBe(2);
    expect(sum(m, 'frs_free_calls_remaining', { operation: 'face_detect' })).toBe(1998);
  });

  it('continues the month count from the database after a restart', async () => {
    clock.set('2026-12-10T09:00:00+08:00');
    for (let i = 0; i < 3; i++) expect(await detect()).toBe(200);
    const before = await scrape(stack.meterUrl);
    expect(sum(before, 'frs_month_billable_calls', { operation: 'face_detect' })).toBe(5);
    await stack.service.close(); // graceful: the final flush writes the 3 calls
    const replica = await stack.startReplica();
    const after = await scrape(replica.url);
    expect(sum(after, 'frs_month_billable_calls', { operation: 'face_detect' })).toBe(5);
    expect(sum(after, 'frs_free_calls_remaining', { operation: 'face_detect' })).toBe(1995);
    // A counter of this process starts at 0; the month gauge does not.
    expect(sum(after, 'frs_billable_calls_total', { operation: 'face_detect' })).toBe(0);
  });
});
