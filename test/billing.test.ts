// Bill sync against the bundled emulator's BSS plugin (real HTTP) into a real Postgres: whole
// months stored and replaced atomically, re-syncs that change nothing, 2,500 records over three
// pages, a failure on page 2 that leaves the stored month intact, exact amounts in any unit and
// JSON type, package snapshots, and the scheduler under its advisory lock.

import { request } from 'undici';
import { Client } from 'pg';
import { SchedulerRegistry } from '@nestjs/schedule';
import { Logger } from '@nestjs/common';
import { ManualClock } from '../src/common/clock';
import { Config, loadConfig } from '../src/config/config';
import { LOCKS, OpenedDatabase, openDatabase } from '../src/database/database';
import { OPERATION_NAMES, pathFor } from '../src/frs/operations';
import { sha256Hex, signRequest } from '../src/frs/signer';
import { RunningEmulator, startEmulator } from '../src/emulator/emulator';
import { BssPlugin, bssPlugin } from '../src/emulator/bss/bss-plugin';
import { DEFAULT_EMULATOR_PRICES } from '../src/emulator/bss/bss-billing';
import { BillingRepository } from '../src/billing/billing.repository';
import { BillingSyncService, createBssClient } from '../src/billing/billing-sync.service';
import { BillingScheduler } from '../src/billing/billing.scheduler';
import { BssClient, BssError } from '../src/billing/bss-client';
import { createTestDatabase } from './support/db';

const AK = 'BILLINGTESTAK0000001';
const SK = 'billing-test-secret-key-00000000000001';
const PROJECT = '0123456789abcdef0123456789abcdef';
const IMAGE = Buffer.from('an image, as far as the emulator is concerned').toString('base64');

type Op = 'face_detect' | 'face_compare' | 'live_detect_face' | 'live_detect';
const BODIES: Record<Op, unknown> = {
  face_detect: { image_base64: IMAGE },
  face_compare: { image1_base64: IMAGE, image2_base64: IMAGE },
  live_detect_face: { image_base64: IMAGE },
  live_detect: { video_base64: IMAGE, actions: '1,2' },
};

/** Beijing local time → Date. */
const bj = (local: string) => new Date(`${local}+08:00`);

let clock: ManualClock;
let bss: BssPlugin;
let em: RunningEmulator;
let db: { url: string; drop(): Promise<void> };
let opened: OpenedDatabase;
let config: Config;
let repo: BillingRepository;
let client: BssClient;
let sync: BillingSyncService;

async function frs(op: Op, at: Date): Promise<void> {
  clock.set(at);
  await send(op);
}

/** One signed FRS call at the clock's current time; must be answered 200. */
async function send(op: Op): Promise<void> {
  const path = pathFor(op, PROJECT);
  const body = JSON.stringify(BODIES[op]);
  const headers: Record<string, string> = { host: new URL(em.url).host, 'content-type': 'application/json' };
  Object.assign(headers, signRequest({ method: 'POST', path, headers, bodySha256Hex: sha256Hex(body) }, { ak: AK, sk: SK }, clock.date()));
  const res = await request(em.url + path, { method: 'POST', headers, body });
  await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${op} answered ${res.statusCode}`);
}

async function rows(sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  return opened.dataSource.query(sql, params);
}

/** Everything stored for a month except the pull time: what "changes nothing" compares. */
async function snapshot(month: string) {
  const [m] = await rows(`SELECT bill_cycle, status, consume_amount, summary_rows, aggregated_records, detailed_records, content_sha256, changed_at FROM billing_months WHERE bill_cycle = $1`, [month]);
  return {
    month: m,
    summary: await rows(`SELECT * FROM billing_summary_rows WHERE bill_cycle = $1 ORDER BY row_no`, [month]),
    records: await rows(`SELECT * FROM billing_resource_records WHERE bill_cycle = $1 ORDER BY statistic_type, row_no`, [month]),
    sums: await rows(
      `SELECT statistic_type, SUM(amount)::text AS amount, SUM(usage)::text AS usage, count(*)::int AS n FROM billing_resource_records WHERE bill_cycle = $1 GROUP BY statistic_type ORDER BY 1`,
      [month],
    ),
  };
}

function makeConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    FRS_ENDPOINT: em.url,
    BSS_ENDPOINT: em.url,
    HUAWEICLOUD_SDK_AK: AK,
    HUAWEICLOUD_SDK_SK: SK,
    FRS_METER_SECRET_KEY: 'billing-test-secret-0001',
    FRS_METER_BSS_RPS: '200',
    FRS_METER_BSS_MAX_ATTEMPTS: '3',
    FRS_METER_BSS_BACKOFF_BASE_MS: '5',
    FRS_METER_BSS_BACKOFF_MAX_MS: '20',
    ...env,
  });
}

beforeAll(async () => {
  Logger.overrideLogger(false);
  clock = new ManualClock(bj('2025-03-01T00:00:00'), { frozen: true });
  // The bill's rules, written out: 2,000 free calls per operation, action liveness excluded.
  bss = bssPlugin({ requestsPerSecond: 0, freeCalls: 2000, freeScope: 'per_operation', freeExcluded: ['live_detect'] });
  em = await startEmulator({
    plugins: [bss],
    credentials: [{ ak: AK, sk: SK }],
    latency: { latencyScale: 0 },
    qps: Object.fromEntries(OPERATION_NAMES.map((o) => [o, 1_000_000])),
    now: () => clock.date(),
    log: () => undefined,
  });
  db = await createTestDatabase('billing');
  opened = await openDatabase({ url: db.url, dataDir: '', embeddedPort: 0 });
  config = makeConfig();
  repo = new BillingRepository(opened.dataSource);
  client = createBssClient(config, clock);
  sync = new BillingSyncService(config, clock, repo, client);
});

afterAll(async () => {
  await client?.close();
  await opened?.close();
  await db?.drop();
  await em?.close();
  Logger.overrideLogger(['log', 'warn', 'error']);
});

beforeEach(() => {
  bss.setFaults([]);
  bss.configure({ prices: DEFAULT_EMULATOR_PRICES, freeCalls: 2000, packages: [], amountFormat: 'number', measureId: 1, requestsPerSecond: 0 });
  bss.clearRequests();
});

describe('syncing a month', () => {
  it('stores the month, and syncing it again leaves identical rows and sums', async () => {
    await frs('face_detect', bj('2025-03-02T10:15:00'));
    await frs('face_detect', bj('2025-03-02T10:45:00'));
    await frs('face_detect', bj('2025-03-05T08:00:00'));
    await frs('face_compare', bj('2025-03-05T09:30:00'));
    await frs('live_detect', bj('2025-03-06T12:00:00'));
    clock.set(bj('2025-03-20T12:00:00'));

    const first = await sync.syncMonth('2025-03');
    expect(first).toMatchObject({
      bill_cycle: '2025-03',
      status: 'provisional',
      changed: true,
      service_type_code: 'hws.service.type.frs',
      currency: 'CNY',
      // live_detect has no free calls: one call at the example price.
      consume_amount: '0.01',
      summary_rows: 3,
      aggregated_records: 3,
      detailed_records: 4,
    });
    const before = await snapshot('2025-03');
    expect(before.sums).toEqual([
      { statistic_type: 1, amount: '0.01', usage: '5', n: 3 },
      { statistic_type: 3, amount: '0.0123', usage: '5', n: 4 },
    ]);
    const [detect] = await rows(`SELECT operation, usage::text, amount::text, resource_type FROM billing_resource_records WHERE bill_cycle = '2025-03' AND statistic_type = 1 AND operation = 'face_detect'`);
    expect(detect).toEqual({ operation: 'face_detect', usage: '3', amount: '0', resource_type: 'hws.resource.type.frs.face_detect' });

    clock.advance(60_000);
    const second = await sync.syncMonth('2025-03');
    expect(second.changed).toBe(false);
    const after = await snapshot('2025-03');
    expect(after).toEqual(before);
    const [{ fetched_at }] = await rows(`SELECT fetched_at FROM billing_months WHERE bill_cycle = '2025-03'`);
    expect(new Date(fetched_at as string).getTime()).toBe(clock.now());

    // New usage replaces the month as a whole.
    await frs('face_compare', bj('2025-03-20T12:30:00'));
    clock.set(bj('2025-03-20T13:00:00'));
    const third = await sync.syncMonth('2025-03');
    expect(third).toMatchObject({ changed: true, detailed_records: 5 });
    expect((await snapshot('2025-03')).sums).toEqual([
      { statistic_type: 1, amount: '0.01', usage: '6', n: 3 },
      { statistic_type: 3, amount: '0.0123', usage: '6', n: 5 },
    ]);
  });

  it('marks a month final once the clock is past 12:00 on the 4th of the next month (Beijing)', async () => {
    // Cost Center: final after 12:00 on the 4th (a console FAQ's 10:00 is too early).
    clock.set(bj('2025-04-04T11:59:00'));
    expect((await sync.syncMonth('2025-03')).status).toBe('provisional');
    clock.set(bj('2025-04-04T12:00:00'));
    expect((await sync.syncMonth('2025-03')).status).toBe('final');
    const [m] = await rows(`SELECT status FROM billing_months WHERE bill_cycle = '2025-03'`);
    expect(m.status).toBe('final');
  });

  it('refuses a month that has not started and a malformed one, storing nothing', async () => {
    clock.set(bj('2025-04-10T00:00:00'));
    await expect(sync.syncMonth('2025-05')).rejects.toThrow(/has not started/);
    await expect(sync.syncMonth('2025-5')).rejects.toThrow(/not a month/);
    expect(await rows(`SELECT 1 FROM billing_months WHERE bill_cycle = '2025-05'`)).toEqual([]);
  });

  it('recognises an error answered with HTTP 200 and stores nothing', async () => {
    await frs('face_detect', bj('2025-02-10T10:00:00'));
    clock.set(bj('2025-02-20T00:00:00'));
    bss.setFaults([{ kind: 'error_200', path: '/v2/bills/customer-bills/res-fee-records', code: 'CBC.30050001' }]);
    const err = await sync.syncMonth('2025-02').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BssError);
    expect(err).toMatchObject({ status: 200, errorCode: 'CBC.30050001', retryable: false });
    expect(await rows(`SELECT 1 FROM billing_months WHERE bill_cycle = '2025-02'`)).toEqual([]);
    const [state] = await rows(`SELECT last_error FROM billing_sync_state WHERE kind = 'monthly_sum'`);
    expect(state.last_error).toContain('CBC.30050001');
  });
});

describe('a month of 2,500 resource records', () => {
  const month = '2024-11';
  const ops: Op[] = ['face_detect', 'face_compare', 'live_detect_face', 'live_detect'];

  beforeAll(async () => {
    // One call per operation and hour for 625 hours: 2,500 hourly detail records.
    const start = bj('2024-11-01T00:00:00').getTime();
    for (let h = 0; h < 625; h++) {
      clock.set(start + h * 3600_000 + 60_000);
      await Promise.all(ops.map(send));
    }
  }, 60_000);

  it('is pulled completely, page by page (limit 1000)', async () => {
    clock.set(bj('2024-12-20T00:00:00'));
    const r = await sync.syncMonth(month);
    expect(r).toMatchObject({ status: 'final', detailed_records: 2500, aggregated_records: 4, summary_rows: 4 });
    const [agg] = await rows(`SELECT count(*)::int AS n, SUM(usage)::text AS usage, count(DISTINCT trade_id)::int AS trades FROM billing_resource_records WHERE bill_cycle = $1 AND statistic_type = 3`, [month]);
    expect(agg).toEqual({ n: 2500, usage: '2500', trades: 2500 });
    const pages = bss
      .requests()
      .filter((q) => q.path === '/v2/bills/customer-bills/res-fee-records' && q.query.includes('statistic_type=3'))
      .map((q) => new URLSearchParams(q.query).get('offset'));
    expect(pages).toEqual(['0', '1000', '2000']);
    // live_detect: 625 calls × 0.0123, no free calls; the other three stay within 2,000 free calls.
    const [m] = await rows(`SELECT consume_amount::text FROM billing_months WHERE bill_cycle = $1`, [month]);
    expect(m.consume_amount).toBe('7.69');
  });

  it('a sync failing on page 2 leaves the stored month intact and visible; a later sync completes it', async () => {
    clock.set(bj('2024-12-20T01:00:00'));
    await sync.syncMonth(month);
    const before = await snapshot(month);
    expect(before.month.detailed_records).toBe(2500);

    await frs('face_detect', bj('2024-11-30T23:10:00'));
    clock.set(bj('2024-12-21T00:00:00'));
    bss.setFaults([{ kind: 'server_error', path: '/v2/bills/customer-bills/res-fee-records', page: 2, times: 0 }]);
    const err = await sync.syncMonth(month).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BssError);
    expect(err).toMatchObject({ status: 500, errorCode: 'CBC.0999' });
    // Retried (3 attempts), then given up without writing anything.
    expect(bss.requests().filter((q) => q.status === 500)).toHaveLength(3);
    expect(await snapshot(month)).toEqual(before);
    const visible = await repo.readMonth(month, 3);
    expect(visible?.records).toHaveLength(2500);

    bss.setFaults([]);
    const done = await sync.syncMonth(month);
    expect(done).toMatchObject({ changed: true, detailed_records: 2501 });
    const [agg] = await rows(`SELECT SUM(usage)::text AS usage FROM billing_resource_records WHERE bill_cycle = $1 AND statistic_type = 3`, [month]);
    expect(agg.usage).toBe('2501');
  });

  it('readers never see half a month while it is being replaced', async () => {
    await frs('face_compare', bj('2024-11-30T23:20:00'));
    clock.set(bj('2024-12-22T00:00:00'));
    const reader = new Client({ connectionString: db.url });
    await reader.connect();
    const seen = new Set<string>();
    let stop = false;
    const look = async () => {
      const r = await reader.query(
        `SELECT m.detailed_records, (SELECT count(*) FROM billing_resource_records r WHERE r.bill_cycle = m.bill_cycle AND r.statistic_type = 3)::int AS n
         FROM billing_months m WHERE m.bill_cycle = $1`,
        [month],
      );
      seen.add(r.rows.length === 0 ? 'missing' : `${r.rows[0].detailed_records}/${r.rows[0].n}`);
    };
    const watch = (async () => {
      while (!stop) await look();
    })();
    await sync.syncMonth(month);
    stop = true;
    await watch;
    // The watcher's last read may have started before the COMMIT: one more read after it.
    await look();
    await reader.end();
    for (const s of seen) {
      const [declared, counted] = s.split('/');
      expect(s).not.toBe('missing');
      expect(counted).toBe(declared);
    }
    expect(seen.has('2502/2502')).toBe(true);
  });
});

describe('amounts', () => {
  const month = '2024-09';
  const prices = { currency: 'CNY', operations: { '*': [{ upTo: null, unitPrice: '0.1' }] } };

  beforeAll(async () => {
    await frs('face_detect', bj('2024-09-03T10:00:00'));
    await frs('face_detect', bj('2024-09-03T11:00:00'));
    await frs('face_detect', bj('2024-09-03T11:30:00'));
  });

  async function pulled() {
    clock.set(bj('2024-10-10T00:00:00'));
    await sync.syncMonth(month);
    return {
      month: (await rows(`SELECT consume_amount::text, cash_amount::text, measure_id FROM billing_months WHERE bill_cycle = $1`, [month]))[0],
      detail: (await rows(`SELECT amount::text FROM billing_resource_records WHERE bill_cycle = $1 AND statistic_type = 3 ORDER BY amount`, [month])).map((r) => r.amount),
      detailSum: (await rows(`SELECT SUM(amount)::text AS s FROM billing_resource_records WHERE bill_cycle = $1 AND statistic_type = 3`, [month]))[0].s,
      summary: (await rows(`SELECT consume_amount::text FROM billing_summary_rows WHERE bill_cycle = $1`, [month])).map((r) => r.consume_amount),
    };
  }

  it('0.1 + 0.2 is exactly 0.3, whether BSS sends numbers or strings, in yuan or in fen', async () => {
    bss.configure({ prices, freeCalls: 0, amountFormat: 'number', measureId: 1 });
    const asNumbers = await pulled();
    expect(asNumbers).toEqual({ month: { consume_amount: '0.3', cash_amount: '0.3', measure_id: 1 }, detail: ['0.1', '0.2'], detailSum: '0.3', summary: ['0.3'] });

    bss.configure({ prices, freeCalls: 0, amountFormat: 'string', measureId: 3 });
    const asFenStrings = await pulled();
    expect(bss.requests().some((q) => q.path.endsWith('/monthly-sum'))).toBe(true);
    expect(asFenStrings).toEqual({ ...asNumbers, month: { ...asNumbers.month, measure_id: 3 } });

    bss.configure({ prices, freeCalls: 0, amountFormat: 'mixed', measureId: 2 });
    const asJiaoMixed = await pulled();
    expect(asJiaoMixed).toEqual({ ...asNumbers, month: { ...asNumbers.month, measure_id: 2 } });
  });
});

describe('resource packages', () => {
  it('stores a snapshot of what is left, and a second identical pull adds nothing', async () => {
    bss.configure({
      packages: [
        {
          orderInstanceId: 'order-inst-1',
          freeResourceId: 'item-1',
          productName: 'FRS compare 100 calls',
          operations: ['face_compare'],
          totalCalls: 100,
          effectiveTime: '2024-07-01T00:00:00Z',
          expireTime: '2025-07-01T00:00:00Z',
          price: '9.90',
        },
      ],
    });
    await frs('face_compare', bj('2024-07-02T10:00:00'));
    await frs('face_compare', bj('2024-07-02T10:05:00'));
    clock.set(bj('2024-07-03T00:00:00'));
    const first = await sync.syncPackages();
    expect(first).toMatchObject({ packages: 1, items: 1, changed: true });
    const current = await repo.currentPackages();
    expect(current.items).toHaveLength(1);
    expect(current.items[0]).toMatchObject({ order_instance_id: 'order-inst-1', free_resource_id: 'item-1', remaining: '98', original: '100', status: 1 });

    clock.advance(3600_000);
    const second = await sync.syncPackages();
    expect(second.changed).toBe(false);
    const [{ n }] = await rows(`SELECT count(*)::int AS n FROM billing_package_snapshots`);
    expect(n).toBe(1);
    const calls = bss.requests().map((q) => q.path);
    expect(calls.filter((p) => p === '/v3/payments/free-resources/query')).toHaveLength(2);
    expect(calls.filter((p) => p === '/v2/payments/free-resources/usages/details/query')).toHaveLength(2);

    // The purchase is on July's bill, as a record no operation is mapped to.
    const r = await sync.syncMonth('2024-07');
    expect(r.consume_amount).toBe('9.90');
    const [purchase] = await rows(`SELECT operation, charge_mode, amount::text FROM billing_resource_records WHERE bill_cycle = '2024-07' AND statistic_type = 1 AND resource_type = 'hws.resource.type.frs.package'`);
    expect(purchase).toEqual({ operation: null, charge_mode: '1', amount: '9.9' });
    const [usage] = await rows(`SELECT usage::text, free_resource_usage::text FROM billing_resource_records WHERE bill_cycle = '2024-07' AND statistic_type = 1 AND operation = 'face_compare'`);
    expect(usage).toEqual({ usage: '2', free_resource_usage: '2' });
  });
});

describe('the scheduler', () => {
  it('runs only with the advisory lock, syncs what is due, backs off after a failure', async () => {
    const scheduler = new BillingScheduler(config, clock, opened.dataSource, repo, sync, new SchedulerRegistry());
    clock.set(bj('2025-06-02T09:00:00'));

    const holder = new Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query('SELECT pg_advisory_lock($1)', [LOCKS.billingSync]);
      expect(await scheduler.check()).toMatchObject({ ran: false, synced: [] });
    } finally {
      await holder.end();
    }

    // July 2024 was stored as provisional above: it is caught up as final.
    const run = await scheduler.check();
    expect(run).toMatchObject({ ran: true, synced: ['2025-06:provisional', '2025-05:provisional', '2024-07:final'], failed: [], packages: 'synced' });
    clock.advance(3600_000);
    expect(await scheduler.check()).toMatchObject({ ran: true, synced: [], packages: 'synced' });

    // The 4th after 12:00: May becomes final. BSS fails: logged, nothing stored, retried later.
    clock.set(bj('2025-06-04T12:05:00'));
    bss.setFaults([{ kind: 'server_error', path: '/v2/bills/customer-bills/monthly-sum', times: 0 }]);
    const failed = await scheduler.check();
    expect(failed.failed.map((f) => f.month)).toEqual(['2025-06', '2025-05']);
    const [may] = await rows(`SELECT status FROM billing_months WHERE bill_cycle = '2025-05'`);
    expect(may.status).toBe('provisional');
    clock.advance(30_000);
    expect(await scheduler.check()).toMatchObject({ ran: true, synced: [], skipped: ['2025-06', '2025-05'] });
    bss.setFaults([]);
    clock.advance(60_000);
    expect(await scheduler.check()).toMatchObject({ ran: true, synced: ['2025-06:provisional', '2025-05:final'], failed: [] });
  });
});
