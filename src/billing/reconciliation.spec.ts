import type { OperationAttribution } from '../drawdown/drawdown.service';
import type { OperationName } from '../frs/operations';
import type { BilledOperationRow, MonthRow, ReconciliationInputs } from './billing.repository';
import { Money } from './money';
import { UNATTRIBUTED_APP, reconcile } from './reconciliation';
import { formatReconciliation } from './reconciliation-format';

const OPS = ['face_detect', 'face_compare', 'live_detect'];

function month(consume: string, status: 'provisional' | 'final' = 'final'): MonthRow {
  return {
    bill_cycle: '2025-03',
    status,
    service_type_code: 'hws.service.type.frs',
    currency: 'CNY',
    measure_id: 1,
    consume_amount: consume,
    cash_amount: consume,
    credit_amount: '0',
    coupon_amount: '0',
    debt_amount: '0',
    writeoff_amount: '0',
    flexipurchase_coupon_amount: '0',
    stored_value_card_amount: '0',
    summary_rows: 1,
    aggregated_records: 1,
    detailed_records: 1,
    content_sha256: 'x',
    fetched_at: new Date('2025-04-05T00:00:00Z'),
    changed_at: new Date('2025-04-05T00:00:00Z'),
  };
}

function billed(operation: string | null, usage: number, amount: string, extra: Partial<BilledOperationRow> = {}): BilledOperationRow {
  return { operation, records: 1, usage: String(usage), free_resource_usage: '0', amount, official_amount: amount, resource_types: [], ...extra };
}

function attr(operation: string, valid: number, split: Partial<OperationAttribution> = {}): OperationAttribution {
  return {
    operation: operation as OperationName,
    valid_calls: valid,
    qps_package: 0,
    call_package: 0,
    free_tier: 0,
    pay_per_use: valid,
    qps_overflow: 0,
    possibly_billed: 0,
    estimated_cost: null,
    currency: null,
    ...split,
  };
}

function inputs(m: MonthRow | null, b: BilledOperationRow[], metered: [string, string, number][], possibly: Record<string, number> = {}, gateway: Record<string, number> = {}): ReconciliationInputs {
  const total = b.reduce((s, r) => s.plus(r.amount ?? 0), new Money(0)).toFixed();
  return {
    month: m,
    billed: b,
    recordsTotal: m ? total : null,
    metered: metered.map(([app, operation, calls]) => ({ app, operation, calls })),
    possiblyBilled: new Map(Object.entries(possibly)),
    gatewayTimeouts: new Map(Object.entries(gateway)),
  };
}

const sumShares = (r: ReturnType<typeof reconcile>) =>
  r.apps.reduce((s, a) => s.plus(a.share_amount ?? 0), new Money(0)).plus(r.unattributed_amount ?? 0).toFixed(2);

describe('reconcile', () => {
  it('shows zero difference when the bill matches, and shares add up exactly to the bill', () => {
    const r = reconcile(
      inputs(month('0.10'), [billed('face_detect', 3, '0.10')], [
        ['a', 'face_detect', 1],
        ['b', 'face_detect', 1],
        ['c', 'face_detect', 1],
      ]),
      [attr('face_detect', 3)],
      { month: '2025-03', operations: OPS },
    );
    const detect = r.operations.find((o) => o.operation === 'face_detect');
    expect(detect).toMatchObject({ metered_calls: 3, billed_calls: 3, difference_calls: 0, billed_amount: '0.10' });
    expect(detect?.causes.map((c) => c.code)).toEqual(['match']);
    expect(r.apps.map((a) => [a.app, a.share_amount])).toEqual([
      ['a', '0.04'],
      ['b', '0.03'],
      ['c', '0.03'],
    ]);
    expect(sumShares(r)).toBe('0.10');
    expect(r.totals).toMatchObject({ metered_calls: 3, billed_calls: 3, difference_calls: 0, billed_amount: '0.10' });
    expect(r.notes).toEqual([]);
  });

  it('finding 3: explains billed > metered by possibly-billed attempts first, then gateway 504s; the rest is bypass and stays unexplained', () => {
    // 12 billed, 7 metered: 5 more billed = 3 possibly billed + 1 gateway timeout + 1 unexplained (bypass).
    const r = reconcile(inputs(month('0'), [billed('face_detect', 12, '0')], [['a', 'face_detect', 7]], { face_detect: 3 }, { face_detect: 1 }), [attr('face_detect', 7)], {
      month: '2025-03',
      operations: OPS,
    });
    const d = r.operations.find((o) => o.operation === 'face_detect');
    expect(d).toMatchObject({ difference_calls: -5, unexplained_calls: -1, possibly_billed: 3, gateway_timeouts: 1 });
    expect(d?.causes.map((c) => [c.code, c.calls])).toEqual([
      ['possibly_billed', 3],
      ['gateway_timeout', 1],
      ['bypass', 1],
    ]);
    expect(d?.explanation).toMatch(/bypassed the proxy/);
    // Only possibly-billed attempts, enough for the whole difference: nothing unexplained.
    const covered = reconcile(inputs(month('0'), [billed('face_detect', 12, '0')], [['a', 'face_detect', 7]], { face_detect: 5 }), [attr('face_detect', 7)], { month: '2025-03', operations: OPS });
    expect(covered.operations.find((o) => o.operation === 'face_detect')).toMatchObject({ difference_calls: -5, unexplained_calls: 0 });
  });

  it('finding 1: an app pays its own calls; bypassing calls are an unattributed bypass row, never spread over apps', () => {
    // Bill: 100,000 face_detect calls, 450.00. App A metered 10,000, priced by the engine at
    // 10,000 × 0.0045 = 45.00. The other 90,000 calls (405.00) went around the proxy.
    const appCosts = new Map([['A', new Map([['face_detect', new Money('45.00')]])]]);
    const r = reconcile(inputs(month('450.00'), [billed('face_detect', 100_000, '450.00')], [['A', 'face_detect', 10_000]]), [attr('face_detect', 10_000, { estimated_cost: '45.00', currency: 'CNY' })], {
      month: '2025-03',
      operations: OPS,
      appCosts,
    });
    expect(r.apps).toEqual([{ app: 'A', billable_calls: 10_000, share_of_calls: '1.0000', share_amount: '45.00', operations: { face_detect: { calls: 10_000, amount: '45.00' } } }]);
    expect(r.unattributed_amount).toBe('405.00');
    expect(r.unattributed).toEqual([expect.objectContaining({ cause: 'bypass', operation: 'face_detect', calls: 90_000, amount: '405.00' })]);
    // Without a price table: the bill's amount per billed call, 450.00 / 100,000 × 10,000 = 45.00.
    const unpriced = reconcile(inputs(month('450.00'), [billed('face_detect', 100_000, '450.00')], [['A', 'face_detect', 10_000]]), [attr('face_detect', 10_000)], { month: '2025-03', operations: OPS });
    expect(unpriced.apps[0].share_amount).toBe('45.00');
    expect(unpriced.unattributed_amount).toBe('405.00');
  });

  it('finding 10: calls a QPS package covered are explained, so nothing is unexplained', () => {
    // 500 metered, all inside the QPS package's rate; the bill shows 0 calls of face_detect.
    const r = reconcile(inputs(month('0'), [billed('face_detect', 0, '0')], [['a', 'face_detect', 500]]), [attr('face_detect', 500, { qps_package: 500, pay_per_use: 0 })], { month: '2025-03', operations: OPS });
    expect(r.operations.find((o) => o.operation === 'face_detect')).toMatchObject({ difference_calls: 500, unexplained_calls: 0 });
    expect(r.totals.unexplained_calls).toBe(0);
  });

  it('finding 11: usage_measure_id converts billed units to calls; an unknown unit is not counted as calls', () => {
    // 100 units of 1,000 calls (id 42) = 100,000 calls, as metered.
    const units = new Map([[41, 1], [42, 1000]]);
    const r = reconcile(inputs(month('0'), [billed('face_detect', 100, '0', { usage_measure_id: 42 })], [['a', 'face_detect', 100_000]]), [attr('face_detect', 100_000)], { month: '2025-03', operations: OPS, usageUnits: units });
    expect(r.operations.find((o) => o.operation === 'face_detect')).toMatchObject({ billed_calls: 100_000, difference_calls: 0, unexplained_calls: 0 });
    const unknown = reconcile(inputs(month('0'), [billed('face_detect', 100, '0', { usage_measure_id: 99 })], [['a', 'face_detect', 100_000]]), [attr('face_detect', 100_000)], { month: '2025-03', operations: OPS, usageUnits: units });
    const d = unknown.operations.find((o) => o.operation === 'face_detect');
    expect(d).toMatchObject({ billed_calls: 0, difference_calls: 100_000, unexplained_calls: 100_000 });
    expect(d?.causes.map((c) => c.code)).toContain('unknown_unit');
  });

  it('finding 8: says which free-tier scope the bill is consistent with', () => {
    // Bill: face_detect 3,000 calls 4.50 and face_compare 1,000 calls 4.50 at 0.0045 a call.
    // per_operation: 1,000 paid detect (4.50) + 0 paid compare (0) — does not match compare.
    // per_account: 2,000 free go to detect (earlier), so 1,000 + 1,000 paid = 4.50 + 4.50 — matches.
    const bill = [billed('face_detect', 3000, '4.50'), billed('face_compare', 1000, '4.50')];
    const metered: [string, string, number][] = [['a', 'face_detect', 3000], ['a', 'face_compare', 1000]];
    const scopeEstimates = new Map([
      ['per_operation', new Map([['face_detect', '4.5'], ['face_compare', '0']])],
      ['per_sub_service', new Map([['face_detect', '4.5'], ['face_compare', '0']])],
      ['per_account', new Map([['face_detect', '4.5'], ['face_compare', '4.5']])],
    ]);
    const r = reconcile(inputs(month('9.00'), bill, metered), [attr('face_detect', 3000), attr('face_compare', 1000)], { month: '2025-03', operations: OPS, scopeEstimates, configuredScope: 'per_operation' });
    expect(r.free_tier_scope).toMatchObject({ consistent: ['per_account'], configured: 'per_operation' });
    expect(r.free_tier_scope?.text).toMatch(/FRS_METER_FREE_TIER_SCOPE=per_account/);
  });

  it('explains metered > billed by QPS packages, then by a provisional month', () => {
    const r = reconcile(inputs(month('0', 'provisional'), [billed('face_compare', 10, '0')], [['a', 'face_compare', 15]]), [attr('face_compare', 15, { qps_package: 2, pay_per_use: 13 })], {
      month: '2025-03',
      operations: OPS,
    });
    const c = r.operations.find((o) => o.operation === 'face_compare');
    expect(c?.causes.map((x) => [x.code, x.calls])).toEqual([
      ['qps_package', 2],
      ['provisional', 3],
    ]);
    expect(r.status).toBe('provisional');
    expect(r.notes.some((n) => /provisional/.test(n))).toBe(true);
    const final = reconcile(inputs(month('0'), [billed('face_compare', 10, '0')], [['a', 'face_compare', 15]]), [attr('face_compare', 15)], { month: '2025-03', operations: OPS });
    expect(final.operations.find((o) => o.operation === 'face_compare')?.causes.map((x) => x.code)).toEqual(['unbilled']);
  });

  it('flags free-tier or package accounting when calls match but the amount does not', () => {
    const r = reconcile(inputs(month('9.00'), [billed('face_detect', 3000, '9.00')], [['a', 'face_detect', 3000]]), [attr('face_detect', 3000, { free_tier: 2000, pay_per_use: 1000, estimated_cost: '4.5', currency: 'CNY' })], {
      month: '2025-03',
      operations: OPS,
    });
    const d = r.operations.find((o) => o.operation === 'face_detect');
    expect(d).toMatchObject({ difference_calls: 0, estimated_cost: '4.50', difference_amount: '-4.50' });
    expect(d?.causes.map((c) => c.code)).toEqual(['amount_accounting']);
  });

  it('keeps package purchases and operations nobody metered unattributed, with their causes', () => {
    // face_detect: 0.30 over a:2 b:1; purchase of a package 1.00 (unmapped); live_detect 0.07 billed, not metered.
    const r = reconcile(
      inputs(month('1.37'), [billed('face_detect', 3, '0.30'), billed('live_detect', 7, '0.07'), billed(null, 0, '1.00', { usage: null, resource_types: ['hws.resource.type.frs.package'] })], [
        ['a', 'face_detect', 2],
        ['b', 'face_detect', 1],
        ['b', 'face_compare', 1],
      ]),
      [attr('face_detect', 3, { free_tier: 3, pay_per_use: 0 }), attr('face_compare', 1)],
      { month: '2025-03', operations: OPS },
    );
    const a = r.apps.find((x) => x.app === 'a');
    const b = r.apps.find((x) => x.app === 'b');
    // a: 2/3 of face_detect's 0.30 = 0.20; b: 0.10 (face_compare billed nothing); the package
    // purchase (1.00) and live_detect (0.07) belong to no app's metered calls: 1.07 unattributed.
    expect(a).toMatchObject({ billable_calls: 2, share_of_calls: '0.5000', share_amount: '0.20' });
    expect(b).toMatchObject({ billable_calls: 2, share_amount: '0.10' });
    expect(a?.operations.face_detect).toEqual({ calls: 2, amount: '0.20' });
    expect(r.unattributed_amount).toBe('1.07');
    expect(r.unattributed.map((u) => [u.cause, u.amount])).toEqual([
      ['no_metered_calls', '0.07'],
      ['unmapped', '1.00'],
    ]);
    expect(sumShares(r)).toBe('1.37');
    const unmapped = r.operations.find((o) => o.operation === 'unmapped');
    expect(unmapped?.causes[0].code).toBe('unmapped');
    expect(unmapped?.explanation).toContain('hws.resource.type.frs.package');
    const live = r.operations.find((o) => o.operation === 'live_detect');
    expect(live?.causes.map((c) => [c.code, c.calls])).toEqual([['bypass', 7]]);
    expect(r.notes.some((n) => n.includes(UNATTRIBUTED_APP))).toBe(true);
  });

  it('notes the difference between the summary and the records, and shares the summary', () => {
    const r = reconcile(inputs(month('0.02'), [billed('face_detect', 1, '0.0123'), billed('face_compare', 1, '0.0123')], [['a', 'face_detect', 1], ['b', 'face_compare', 1]]), [], {
      month: '2025-03',
      operations: OPS,
    });
    expect(r.bill_total).toBe('0.02');
    expect(r.records_total).toBe('0.0246');
    expect(r.notes[0]).toMatch(/differ by -0.0046/);
    expect(sumShares(r)).toBe('0.02');
  });

  it('reports a month without a stored bill', () => {
    const r = reconcile(inputs(null, [], [['a', 'face_detect', 4]]), [attr('face_detect', 4)], { month: '2025-03', operations: OPS });
    expect(r.status).toBe('not_synced');
    expect(r.operations.find((o) => o.operation === 'face_detect')).toMatchObject({ metered_calls: 4, billed_calls: null, difference_calls: null });
    expect(r.apps).toEqual([]);
    expect(r.notes[0]).toMatch(/POST \/admin\/billing\/sync/);
  });

  it('renders as a text table', () => {
    const r = reconcile(inputs(month('0.30'), [billed('face_detect', 5, '0.30')], [['app-一', 'face_detect', 3], ['b', 'face_detect', 2]]), [attr('face_detect', 3)], { month: '2025-03', operations: OPS });
    const text = formatReconciliation(r);
    expect(text).toContain('Reconciliation 2025-03 — bill final');
    expect(text).toMatch(/face_detect\s+5\s+0\s+0\s+0\s+3\s+5\s+0\s+0\.30/);
    expect(text).toMatch(/app-一\s+3\s+60\.00%\s+0\.18/);
    expect(text).not.toContain('live_detect');
  });
});
