import { loadConfig } from '../config/config';
import { monthRange } from '../common/billing-month';
import { CallPackageDef, Chunk, chunkBounds, DrawdownEngine, Split } from './engine';
import { parsePriceTable } from './price-table';

const ENV = { FRS_ENDPOINT: 'http://127.0.0.1:1', HUAWEICLOUD_SDK_AK: 'ak', HUAWEICLOUD_SDK_SK: 'sk', FRS_METER_SECRET_KEY: '0123456789abcdef' };
const TZ = 'Asia/Shanghai';
const MARCH = monthRange('2026-03', TZ);
const MIN = 60_000;

function minute(i: number, rows: Chunk['rows']): Chunk {
  const from = MARCH.start + i * MIN;
  return { from, to: from + MIN, rows };
}

function total(engine: DrawdownEngine, op: string): Omit<Split, 'cost'> & { cost: string | null } {
  const out = { qps_package: 0, call_package: 0, free_tier: 0, pay_per_use: 0, qps_overflow: 0, possibly_billed: 0, cost: null as string | null };
  for (const s of engine.attribution.get(op as never)?.values() ?? []) {
    out.qps_package += s.qps_package;
    out.call_package += s.call_package;
    out.free_tier += s.free_tier;
    out.pay_per_use += s.pay_per_use;
    out.qps_overflow += s.qps_overflow;
    out.possibly_billed += s.possibly_billed;
    if (s.cost) out.cost = s.cost.plus(out.cost ?? 0).toFixed();
  }
  return out;
}

const collect = { from: MARCH.start, to: MARCH.end };

describe('DrawdownEngine', () => {
  it('makes the 2,001st valid face_detect of a month the first pay-per-use one; live_detect never gets free calls', () => {
    const config = loadConfig(ENV);
    const engine = new DrawdownEngine(config, [], [], { collect });
    engine.apply(minute(0, [{ operation: 'face_detect', app: 'a', n: 2000 }, { operation: 'live_detect', app: 'a', n: 5 }]));
    expect(total(engine, 'face_detect')).toMatchObject({ free_tier: 2000, pay_per_use: 0 });
    engine.apply(minute(1, [{ operation: 'face_detect', app: 'a', n: 1 }]));
    expect(total(engine, 'face_detect')).toMatchObject({ free_tier: 2000, pay_per_use: 1 });
    expect(total(engine, 'live_detect')).toMatchObject({ free_tier: 0, pay_per_use: 5 });
  });

  it('resets the free calls at the billing month boundary (Asia/Shanghai)', () => {
    const config = loadConfig(ENV);
    const april = monthRange('2026-04', TZ);
    const engine = new DrawdownEngine(config, [], [], { collect: { from: april.start, to: april.end } });
    engine.apply({ from: april.start - MIN, to: april.start, rows: [{ operation: 'face_compare', app: 'a', n: 2500 }] });
    engine.apply({ from: april.start, to: april.start + MIN, rows: [{ operation: 'face_compare', app: 'a', n: 2500 }] });
    expect(total(engine, 'face_compare')).toMatchObject({ free_tier: 2000, pay_per_use: 500 });
  });

  it('shares one pool across operations when the free tier is pooled (the old name of per_account)', () => {
    const config = loadConfig({ ...ENV, FRS_METER_FREE_TIER_SCOPE: 'pooled' });
    const engine = new DrawdownEngine(config, [], [], { collect });
    engine.apply(minute(0, [{ operation: 'face_detect', app: 'a', n: 1500 }]));
    engine.apply(minute(1, [{ operation: 'face_compare', app: 'a', n: 1500 }]));
    expect(total(engine, 'face_detect')).toMatchObject({ free_tier: 1500, pay_per_use: 0 });
    expect(total(engine, 'face_compare')).toMatchObject({ free_tier: 500, pay_per_use: 1000 });
  });

  it('draws call packages earliest expiry first, only for their operations and inside their window', () => {
    const config = loadConfig(ENV);
    const base = { usedCalls: 0, startsAt: MARCH.start, registeredAt: MARCH.start };
    const packages: CallPackageDef[] = [
      { ...base, id: 'late', operations: ['face_detect', 'face_compare'], totalCalls: 1000, expiresAt: MARCH.end + 86_400_000 },
      { ...base, id: 'early', operations: ['face_detect'], totalCalls: 300, usedCalls: 100, expiresAt: MARCH.start + 10 * MIN },
    ];
    const engine = new DrawdownEngine(config, packages, [], { collect });
    engine.apply(minute(0, [{ operation: 'face_detect', app: 'a', n: 250 }, { operation: 'face_compare', app: 'a', n: 10 }]));
    engine.apply(minute(11, [{ operation: 'face_detect', app: 'a', n: 5 }])); // 'early' has expired
    const [early, late] = engine.balances;
    expect([early.def.id, early.drawn, early.remaining]).toEqual(['early', 200, 0]);
    expect([late.def.id, late.drawn, late.remaining]).toEqual(['late', 65, 935]);
    expect(early.exhaustedAt).toBe(MARCH.start);
    expect(total(engine, 'face_detect')).toMatchObject({ call_package: 255, free_tier: 0, pay_per_use: 0 });
  });

  it('follows the configured drawdown order (free tier before call packages)', () => {
    const config = loadConfig({ ...ENV, FRS_METER_DRAWDOWN_ORDER: 'free_tier,qps_package,call_package,pay_per_use' });
    const pkg: CallPackageDef = { id: 'p', operations: ['face_detect'], totalCalls: 100, usedCalls: 0, startsAt: MARCH.start, expiresAt: MARCH.end, registeredAt: MARCH.start };
    const engine = new DrawdownEngine(config, [pkg], [], { collect });
    engine.apply(minute(0, [{ operation: 'face_detect', app: 'a', n: 2050 }]));
    expect(total(engine, 'face_detect')).toMatchObject({ free_tier: 2000, call_package: 50, pay_per_use: 0 });
    expect(engine.balances[0].remaining).toBe(50);
  });

  it('gives calls under a QPS package to the package, and nothing else is drawn for them', () => {
    const config = loadConfig(ENV);
    const pkg: CallPackageDef = { id: 'p', operations: ['face_search'], totalCalls: 100, usedCalls: 0, startsAt: MARCH.start, expiresAt: MARCH.end, registeredAt: MARCH.start };
    const engine = new DrawdownEngine(config, [pkg], [{ operation: 'face_search', from: MARCH.start, to: MARCH.start + 5 * MIN }], { collect });
    engine.apply(minute(0, [{ operation: 'face_search', app: 'a', n: 40 }]));
    engine.apply(minute(5, [{ operation: 'face_search', app: 'a', n: 30 }]));
    expect(total(engine, 'face_search')).toMatchObject({ qps_package: 40, call_package: 30 });
    expect(engine.balances[0].remaining).toBe(70);
  });

  it('prices pay-per-use calls by graduated monthly tiers, per app, summing to the whole', () => {
    const config = loadConfig({ ...ENV, FRS_METER_FREE_TIER_CALLS: '0' });
    const prices = parsePriceTable({ currency: 'CNY', operations: { face_detect: [{ upTo: 10, unitPrice: '0.5' }, { upTo: null, unitPrice: '0.1' }] } });
    const engine = new DrawdownEngine(config, [], [], { collect, prices });
    engine.apply(minute(0, [{ operation: 'face_detect', app: 'a', n: 8 }, { operation: 'face_detect', app: 'b', n: 4 }]));
    engine.apply(minute(1, [{ operation: 'face_detect', app: 'a', n: 3 }]));
    const byApp = engine.attribution.get('face_detect');
    expect(byApp?.get('a')?.cost?.toFixed()).toBe('4.3'); // 8 × 0.5 + 3 × 0.1
    expect(byApp?.get('b')?.cost?.toFixed()).toBe('1.2'); // 2 × 0.5 + 2 × 0.1
    expect(total(engine, 'face_detect').cost).toBe('5.5');
    expect(total(engine, 'face_compare').cost).toBeNull();
  });

  it('asks for minute detail only when an allowance can run out inside a chunk', () => {
    const config = loadConfig(ENV);
    const engine = new DrawdownEngine(config, [], [], { collect });
    const day = { from: MARCH.start, to: MARCH.start + 86_400_000 };
    expect(engine.needsDetail({ ...day, rows: [{ operation: 'face_detect', app: 'a', n: 1999 }] })).toBe(false);
    expect(engine.needsDetail({ ...day, rows: [{ operation: 'face_detect', app: 'a', n: 1000 }, { operation: 'face_detect', app: 'b', n: 1000 }] })).toBe(true);
    expect(engine.needsDetail({ ...day, rows: [{ operation: 'live_detect', app: 'a', n: 99_999 }] })).toBe(false);
    expect(engine.needsDetail(minute(0, [{ operation: 'face_detect', app: 'a', n: 99_999 }]))).toBe(false);
    // The dry run leaves no trace.
    engine.apply(minute(0, [{ operation: 'face_detect', app: 'a', n: 1 }]));
    expect(total(engine, 'face_detect')).toMatchObject({ free_tier: 1, pay_per_use: 0 });

    // A big call package takes everything first, so the free calls never run out.
    const pkg: CallPackageDef = { id: 'big', operations: ['face_detect'], totalCalls: 1_000_000, usedCalls: 0, startsAt: MARCH.start, expiresAt: MARCH.end, registeredAt: MARCH.start };
    const packaged = new DrawdownEngine(config, [pkg], [], { collect });
    const rows = [{ operation: 'face_detect' as const, app: 'a', n: 3000 }, { operation: 'face_detect' as const, app: 'b', n: 3000 }];
    expect(packaged.needsDetail({ ...day, rows })).toBe(false);
    expect(new DrawdownEngine(config, [{ ...pkg, totalCalls: 5000 }], [], { collect }).needsDetail({ ...day, rows })).toBe(true);
  });
});

describe('DrawdownEngine: free-tier scope, overflow, possibly-billed, marginal cost', () => {
  it('per_account (the default) shares one allowance; per_sub_service shares it inside a catalogue sub-service', () => {
    const account = new DrawdownEngine(loadConfig(ENV), [], [], { collect });
    account.apply(minute(0, [{ operation: 'face_detect', app: 'a', n: 1500 }]));
    account.apply(minute(1, [{ operation: 'face_compare', app: 'a', n: 1500 }]));
    // 2,000 for the account: 1,500 to face_detect, the remaining 500 to face_compare.
    expect(total(account, 'face_compare')).toMatchObject({ free_tier: 500, pay_per_use: 1000 });
    expect(account.freeLeft('face_detect')).toBe(0);
    // live_detect_face is excluded by default (Huawei's billing page excludes both liveness kinds).
    expect(account.freeLeft('live_detect_face')).toBe(0);

    const sub = new DrawdownEngine(loadConfig({ ...ENV, FRS_METER_FREE_TIER_SCOPE: 'per_sub_service' }), [], [], { collect });
    sub.apply(minute(0, [{ operation: 'face_add', app: 'a', n: 1200 }, { operation: 'face_delete', app: 'a', n: 1000 }, { operation: 'face_detect', app: 'a', n: 100 }]));
    // face_add and face_delete are both face_management: 2,000 between them (1,200 + 800); face_detect has its own.
    expect(total(sub, 'face_delete')).toMatchObject({ free_tier: 800, pay_per_use: 200 });
    expect(sub.freeLeft('face_add')).toBe(0);
    expect(sub.freeLeft('face_detect')).toBe(1900);
  });

  it('finding 2: calls paid by the QPS package or a call package leave every free call', () => {
    const config = loadConfig({ ...ENV, FRS_METER_FREE_TIER_SCOPE: 'per_operation' });
    const pkg: CallPackageDef = { id: 'p', operations: ['face_compare'], totalCalls: 5000, usedCalls: 0, startsAt: MARCH.start, expiresAt: MARCH.end, registeredAt: MARCH.start };
    const engine = new DrawdownEngine(config, [pkg], [{ operation: 'face_detect', from: MARCH.start, to: MARCH.end }], { collect });
    engine.apply(minute(0, [{ operation: 'face_detect', app: 'a', n: 121 }, { operation: 'face_compare', app: 'a', n: 1900 }]));
    expect(engine.freeLeft('face_detect')).toBe(2000);
    expect(engine.freeLeft('face_compare')).toBe(2000);
  });

  it('calls over the QPS rate fall to the next step; possibly-billed attempts use allowances up but are no valid call', () => {
    const config = loadConfig({ ...ENV, FRS_METER_FREE_TIER_CALLS: '12' });
    const engine = new DrawdownEngine(config, [], [{ operation: 'face_detect', from: MARCH.start, to: MARCH.end }], { collect });
    // 15 valid calls, 5 of them over the package's rate; then 10 valid + 3 possibly billed with no QPS package.
    engine.apply(minute(0, [{ operation: 'face_detect', app: 'a', n: 15, overflow: 5 }]));
    expect(total(engine, 'face_detect')).toMatchObject({ qps_package: 10, qps_overflow: 5, free_tier: 5, pay_per_use: 0 });
    const after = new DrawdownEngine(config, [], [], { collect });
    after.apply(minute(0, [{ operation: 'face_compare', app: 'a', n: 10, possibly: 3 }]));
    // 12 free: 10 to the valid calls, 2 to possibly-billed ones (conservative), 1 possibly-billed one beyond.
    expect(total(after, 'face_compare')).toMatchObject({ free_tier: 10, pay_per_use: 0, possibly_billed: 3 });
    expect(after.freeLeft('face_compare')).toBe(0);
  });

  it('marginal cost: the first step with room pays the next call', () => {
    const config = loadConfig({ ...ENV, FRS_METER_FREE_TIER_CALLS: '2' });
    const prices = parsePriceTable({ currency: 'CNY', operations: { face_detect: [{ upTo: 3, unitPrice: '0.5' }, { upTo: null, unitPrice: '0.1' }] } });
    const pkg: CallPackageDef = { id: 'p', operations: ['face_detect'], totalCalls: 1, usedCalls: 0, startsAt: MARCH.start, expiresAt: MARCH.end, registeredAt: MARCH.start };
    const engine = new DrawdownEngine(config, [pkg], [{ operation: 'face_detect', from: MARCH.start + 60 * MIN, to: MARCH.end }], { collect, prices });
    const t = MARCH.start + 5 * MIN;
    expect(engine.marginal('face_detect', t)).toMatchObject({ bucket: 'call_package', packageId: 'p' });
    engine.apply(minute(0, [{ operation: 'face_detect', app: 'a', n: 1 }]));
    expect(engine.marginal('face_detect', t).bucket).toBe('free_tier');
    engine.apply(minute(1, [{ operation: 'face_detect', app: 'a', n: 5 }]));
    // 1 package + 2 free + 3 paid at 0.5: the next is the 4th paid call, 0.1.
    expect(engine.marginal('face_detect', t).amount?.toFixed()).toBe('0.1');
    expect(engine.marginal('face_detect', MARCH.start + 61 * MIN).bucket).toBe('qps_package');
    expect(engine.marginal('face_detect', MARCH.start + 61 * MIN, true).bucket).toBe('pay_per_use');
  });

  it('finding 11: a package running out inside a one-row day is found to the minute, not at the day start', () => {
    const config = loadConfig(ENV);
    const pkg: CallPackageDef = { id: 'p', operations: ['face_detect'], totalCalls: 100, usedCalls: 0, startsAt: MARCH.start, expiresAt: MARCH.end, registeredAt: MARCH.start };
    const engine = new DrawdownEngine(config, [pkg], [], { collect });
    expect(engine.needsDetail({ from: MARCH.start, to: MARCH.start + 86_400_000, rows: [{ operation: 'face_detect', app: 'a', n: 150 }] })).toBe(true);
  });
});

describe('chunkBounds', () => {
  it('cuts at billing month starts, UTC days and the given instants, sorted and unique', () => {
    const from = monthRange('2026-03', TZ).end - 86_400_000 - 3_600_000;
    const to = from + 2 * 86_400_000;
    const b = chunkBounds(from, to, [from + 1000, from + 1000, to + 5], TZ);
    expect(b[0]).toBe(from);
    expect(b[b.length - 1]).toBe(to);
    expect(b).toContain(monthRange('2026-04', TZ).start);
    expect(b).toContain(from + 1000);
    expect(new Set(b).size).toBe(b.length);
    expect([...b].sort((x, y) => x - y)).toEqual(b);
    for (const t of b.slice(1, -1)) expect(t % 86_400_000 === 0 || t === from + 1000 || t === monthRange('2026-04', TZ).start).toBe(true);
  });
});
