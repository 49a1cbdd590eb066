// The reconciliation of one bill cycle, as a pure function of what is stored: per operation the
// calls frs-meter metered (split by where the drawdown engine put their cost) next to what Huawei
// billed, the difference, what explains it and what does not; per app its share of the bill.
//
// Shares cover only what the proxy metered: each app pays its own calls priced as the drawdown
// engine prices them (the same per-app cost /admin/usage shows), capped at the operation's billed
// amount. Everything else on the bill — calls that bypassed the proxy, other regions or member
// accounts, package purchases, records no operation maps to, rounding — is `unattributed`, one
// row per cause, never spread over apps. Shares are rounded to the cent by largest remainder so
// that apps plus unattributed add up exactly to the bill.

import type { OperationAttribution } from '../drawdown/drawdown.service';
import type { BillStatus } from './sync-plan';
import type { ReconciliationInputs } from './billing.repository';
import { Money, allocate, canonical, formatMoney } from './money';

export type CauseCode =
  | 'match'
  | 'no_bill'
  | 'possibly_billed'
  | 'gateway_timeout'
  | 'bypass'
  | 'provisional'
  | 'qps_package'
  | 'unbilled'
  | 'unknown_unit'
  | 'amount_accounting'
  | 'unmapped';

export interface Cause {
  readonly code: CauseCode;
  /** Calls this cause accounts for, when it is about calls. */
  readonly calls?: number;
  /** true when frs-meter has evidence for it (metered, or the bill says so); bypass is an inference and stays unexplained. */
  readonly explains: boolean;
  readonly text: string;
}

export interface OperationLine {
  readonly operation: string;
  readonly metered_calls: number;
  readonly qps_package: number;
  readonly call_package: number;
  readonly free_tier: number;
  readonly pay_per_use: number;
  /** Valid calls over the QPS package's per-second rate (billed, in the buckets after qps_package). */
  readonly qps_overflow: number;
  /** Attempts cut after they were sent: FRS may have billed them. */
  readonly possibly_billed: number;
  /** Attempts answered APIG.0201 (the gateway's backend timeout): FRS may have finished them. */
  readonly gateway_timeouts: number;
  /** Pay-per-use estimate from the price table; null without one. */
  readonly estimated_cost: string | null;
  /** null when no bill is stored for the month; in calls (usage_measure_id applied). */
  readonly billed_calls: number | null;
  /** Calls the bill says a resource package covered (free_resource_usage). */
  readonly billed_package_calls: number | null;
  readonly billed_amount: string | null;
  /** metered − billed; negative when Huawei billed more calls than frs-meter saw. */
  readonly difference_calls: number | null;
  /** The part of difference_calls no evidenced cause covers (same sign); what the alert watches. */
  readonly unexplained_calls: number | null;
  /** estimated − billed, when both are known. */
  readonly difference_amount: string | null;
  readonly causes: Cause[];
  /** The causes as one sentence (the CSV column). */
  readonly explanation: string;
}

export interface AppShare {
  readonly app: string;
  readonly billable_calls: number;
  /** Of all metered valid calls of the month, e.g. "0.2500". */
  readonly share_of_calls: string;
  /** Share of the bill, to the cent: the app's own metered calls, priced. */
  readonly share_amount: string | null;
  readonly operations: Record<string, { calls: number; amount: string | null }>;
}

export type UnattributedCause = 'bypass' | 'no_metered_calls' | 'pricing' | 'unmapped' | 'rounding';

export interface UnattributedRow {
  readonly cause: UnattributedCause;
  readonly operation: string | null;
  /** Billed calls of this row that frs-meter did not meter (bypass). */
  readonly calls: number | null;
  readonly amount: string;
  readonly text: string;
}

export interface FreeTierScopeCheck {
  /** Scopes under which the drawdown engine's estimate matches the bill to the cent on every operation. */
  readonly consistent: string[];
  readonly configured: string;
  readonly text: string;
}

export interface ReconciliationReport {
  readonly bill_cycle: string;
  readonly status: BillStatus | 'not_synced';
  readonly fetched_at: string | null;
  readonly currency: string | null;
  /** The month's consume_amount from the monthly summary: what Huawei charges. */
  readonly bill_total: string | null;
  /** Sum of the per-resource records (statistic_type=1). */
  readonly records_total: string | null;
  readonly totals: {
    readonly metered_calls: number;
    readonly billed_calls: number | null;
    readonly difference_calls: number | null;
    readonly unexplained_calls: number | null;
    readonly billed_amount: string | null;
    readonly estimated_cost: string | null;
  };
  readonly operations: OperationLine[];
  readonly apps: AppShare[];
  /** Bill amount no app's metered calls account for; `unattributed` says why. */
  readonly unattributed_amount: string | null;
  readonly unattributed: UnattributedRow[];
  readonly free_tier_scope: FreeTierScopeCheck | null;
  readonly sharing_rule: string;
  readonly notes: string[];
}

export const SHARING_RULE =
  "Each app's share is its own metered valid calls of each operation, priced as frs-meter's drawdown engine prices them (the free calls and package calls go to the apps whose calls used them, in call order), capped at the operation's billed amount; without a price table, an operation's billed amount per billed call. What no metered call accounts for (bypass, other regions or accounts, package purchases, unmapped records, rounding) is unattributed, with its cause, and never spread over apps. Shares are rounded to the cent by largest remainder so that apps plus unattributed add up exactly to the bill.";

const UNMAPPED = 'unmapped';
export const UNATTRIBUTED_APP = '(unattributed)';

function dec(v: string | null | undefined): Money {
  return new Money(v ?? 0);
}

function fmt(m: Money | null): string | null {
  return m === null ? null : formatMoney(m);
}

export interface ReconcileOptions {
  readonly month: string;
  /** Billable operations in catalogue order: each gets a line even without calls. */
  readonly operations: readonly string[];
  /** Per app and operation, the drawdown engine's estimated cost of the app's valid calls (null when unpriced). */
  readonly appCosts?: ReadonlyMap<string, ReadonlyMap<string, Money | null>>;
  /** usage_measure_id → calls per unit (FRS_METER_BSS_USAGE_UNITS). */
  readonly usageUnits?: ReadonlyMap<number, number>;
  /** Per free-tier scope, the engine's estimated cost per operation under it (to find the scope the bill is consistent with). */
  readonly scopeEstimates?: ReadonlyMap<string, ReadonlyMap<string, string | null>>;
  readonly configuredScope?: string;
  readonly finalDay?: number;
  readonly finalHour?: number;
}

export function reconcile(inputs: ReconciliationInputs, attribution: readonly OperationAttribution[], opts: ReconcileOptions): ReconciliationReport {
  const m = inputs.month;
  const hasBill = m !== null;
  const provisional = m?.status === 'provisional';
  const attr = new Map(attribution.map((a) => [a.operation as string, a]));
  const units = opts.usageUnits ?? new Map<number, number>();
  const notes: string[] = [];

  // Billed rows per operation, usage converted to calls by its unit; rows in an unknown unit are kept apart.
  const billed = new Map<string, { calls: Money; packageCalls: Money; amount: Money; unknownUnits: Set<number>; unknownUsage: Money; resourceTypes: Set<string> }>();
  for (const b of inputs.billed) {
    const op = b.operation ?? UNMAPPED;
    let acc = billed.get(op);
    if (!acc) billed.set(op, (acc = { calls: new Money(0), packageCalls: new Money(0), amount: new Money(0), unknownUnits: new Set(), unknownUsage: new Money(0), resourceTypes: new Set() }));
    acc.amount = acc.amount.plus(dec(b.amount));
    for (const t of b.resource_types) acc.resourceTypes.add(t);
    const unit = b.usage_measure_id === null || b.usage_measure_id === undefined ? 1 : units.get(b.usage_measure_id);
    if (unit === undefined) {
      acc.unknownUnits.add(b.usage_measure_id as number);
      acc.unknownUsage = acc.unknownUsage.plus(dec(b.usage));
      continue;
    }
    acc.calls = acc.calls.plus(dec(b.usage).times(unit));
    const pUnit = b.free_resource_measure_id === null || b.free_resource_measure_id === undefined ? unit : (units.get(b.free_resource_measure_id) ?? unit);
    acc.packageCalls = acc.packageCalls.plus(dec(b.free_resource_usage).times(pUnit));
  }

  const meteredByOp = new Map<string, number>();
  const byApp = new Map<string, Map<string, number>>();
  for (const r of inputs.metered) {
    meteredByOp.set(r.operation, (meteredByOp.get(r.operation) ?? 0) + r.calls);
    let ops = byApp.get(r.app);
    if (!ops) byApp.set(r.app, (ops = new Map()));
    ops.set(r.operation, (ops.get(r.operation) ?? 0) + r.calls);
  }

  const names = [...opts.operations];
  for (const op of [...meteredByOp.keys(), ...billed.keys()]) if (!names.includes(op) && op !== UNMAPPED) names.push(op);
  if (billed.has(UNMAPPED)) names.push(UNMAPPED);

  const lines: OperationLine[] = names.map((op) => {
    const a = attr.get(op);
    const b = billed.get(op);
    const metered = meteredByOp.get(op) ?? a?.valid_calls ?? 0;
    const billedCalls = hasBill ? Math.round((b?.calls ?? new Money(0)).toNumber()) : null;
    const billedAmount = hasBill ? (b?.amount ?? new Money(0)) : null;
    const estimate = a?.estimated_cost ?? null;
    const possibly = inputs.possiblyBilled.get(op) ?? 0;
    const gateway = inputs.gatewayTimeouts.get(op) ?? 0;
    const diff = billedCalls === null || op === UNMAPPED ? null : metered - billedCalls;
    const diffAmount = estimate !== null && billedAmount !== null ? new Money(estimate).minus(billedAmount) : null;
    let causes: Cause[];
    if (op === UNMAPPED) causes = unmappedCauses([...(b?.resourceTypes ?? [])]);
    else causes = explain(diff, metered, a, billedAmount, estimate, provisional, possibly, gateway);
    if (b && b.unknownUnits.size > 0) {
      causes.push({
        code: 'unknown_unit',
        explains: false,
        text: `${canonical(b.unknownUsage)} billed units in usage_measure_id ${[...b.unknownUnits].join(', ')} could not be converted to calls: add them to FRS_METER_BSS_USAGE_UNITS (id:calls per unit, e.g. 41:1 for 次).`,
      });
    }
    const explained = causes.filter((c) => c.explains).reduce((n, c) => n + (c.calls ?? 0), 0);
    const unexplained = diff === null ? null : Math.sign(diff) * Math.max(0, Math.abs(diff) - explained);
    return {
      operation: op,
      metered_calls: metered,
      qps_package: a?.qps_package ?? 0,
      call_package: a?.call_package ?? 0,
      free_tier: a?.free_tier ?? 0,
      pay_per_use: a?.pay_per_use ?? 0,
      qps_overflow: a?.qps_overflow ?? 0,
      possibly_billed: possibly,
      gateway_timeouts: gateway,
      estimated_cost: estimate === null ? null : formatMoney(estimate),
      billed_calls: billedCalls,
      billed_package_calls: hasBill ? Math.round((b?.packageCalls ?? new Money(0)).toNumber()) : null,
      billed_amount: fmt(billedAmount),
      difference_calls: diff,
      unexplained_calls: unexplained === 0 ? 0 : unexplained,
      difference_amount: fmt(diffAmount),
      causes,
      explanation: causes.map((c) => c.text).join(' '),
    };
  });

  const totalMetered = [...meteredByOp.values()].reduce((s, n) => s + n, 0);
  const mappedLines = lines.filter((l) => l.operation !== UNMAPPED);
  const estimates = mappedLines.map((l) => l.estimated_cost).filter((e): e is string => e !== null);

  let shares: { apps: AppShare[]; unattributed: UnattributedRow[] } = { apps: [], unattributed: [] };
  if (m) {
    const billTotal = dec(m.consume_amount);
    const recordsTotal = dec(inputs.recordsTotal);
    if (!billTotal.eq(recordsTotal)) {
      notes.push(
        `The monthly summary (${formatMoney(billTotal)}) and the sum of the per-resource records (${formatMoney(recordsTotal)}) differ by ${formatMoney(billTotal.minus(recordsTotal))}: records carry up to 8 decimals while the deduction is rounded to the cent (Huawei advises against reconciling the two directly); the summary is what is charged.`,
      );
    }
    if (provisional) {
      const at = `${String(opts.finalHour ?? 12).padStart(2, '0')}:00 on day ${opts.finalDay ?? 4}`;
      notes.push(`${opts.month} is provisional: Huawei's bill for it becomes final after ${at} of the next month (Beijing time); until then usage may lag up to 24 hours.`);
    }
    shares = shareBill(billTotal, lines, byApp, opts.appCosts, totalMetered, notes);
  } else {
    notes.push(`No bill is stored for ${opts.month}: run POST /admin/billing/sync {"month": "${opts.month}"}.`);
  }
  const unattributedTotal = shares.unattributed.reduce((s, r) => s.plus(r.amount), new Money(0));

  const billedCallsTotal = hasBill ? mappedLines.reduce((s, l) => s + (l.billed_calls ?? 0), 0) : null;
  return {
    bill_cycle: opts.month,
    status: m ? m.status : 'not_synced',
    fetched_at: m ? new Date(m.fetched_at).toISOString() : null,
    currency: m?.currency ?? attribution.find((a) => a.currency)?.currency ?? null,
    bill_total: m ? formatMoney(m.consume_amount) : null,
    records_total: m ? formatMoney(dec(inputs.recordsTotal)) : null,
    totals: {
      metered_calls: totalMetered,
      billed_calls: billedCallsTotal,
      difference_calls: billedCallsTotal === null ? null : totalMetered - billedCallsTotal,
      unexplained_calls: hasBill ? mappedLines.reduce((s, l) => s + (l.unexplained_calls ?? 0), 0) : null,
      billed_amount: m ? formatMoney(lines.reduce((s, l) => s.plus(dec(l.billed_amount)), new Money(0))) : null,
      estimated_cost: estimates.length > 0 ? formatMoney(estimates.reduce((s, e) => s.plus(e), new Money(0))) : null,
    },
    operations: lines,
    apps: shares.apps,
    unattributed_amount: m ? formatMoney(unattributedTotal) : null,
    unattributed: shares.unattributed,
    free_tier_scope: hasBill ? scopeCheck(mappedLines, opts) : null,
    sharing_rule: SHARING_RULE,
    notes,
  };
}

/**
 * Which free-tier scope the bill is consistent with: the scopes under which the drawdown engine's
 * estimate equals the billed amount, to the cent, on every operation with calls. Only meaningful
 * when metered and billed calls agree (a bypass changes who used the free calls).
 */
function scopeCheck(lines: readonly OperationLine[], opts: ReconcileOptions): FreeTierScopeCheck | null {
  if (!opts.scopeEstimates || opts.scopeEstimates.size === 0) return null;
  const configured = opts.configuredScope ?? 'per_account';
  const relevant = lines.filter((l) => l.metered_calls > 0 || (l.billed_calls ?? 0) > 0);
  if (relevant.some((l) => l.difference_calls !== 0)) {
    return { consistent: [], configured, text: 'Undetermined: metered and billed calls differ, so the bill cannot tell how the free calls were shared.' };
  }
  const consistent: string[] = [];
  for (const [scope, est] of opts.scopeEstimates) {
    const ok = relevant.every((l) => {
      const e = est.get(l.operation);
      return e !== null && e !== undefined && l.billed_amount !== null && new Money(e).toDecimalPlaces(2, Money.ROUND_HALF_UP).eq(l.billed_amount);
    });
    if (ok) consistent.push(scope);
  }
  const text =
    consistent.length === 0
      ? 'The bill matches no free-tier scope with the configured price table: check FRS_METER_FREE_TIER_EXCLUDED and the prices.'
      : consistent.includes(configured)
        ? `The bill is consistent with the configured free-tier scope ${configured}${consistent.length > 1 ? ` (and with ${consistent.filter((s) => s !== configured).join(', ')}: this month's calls do not tell them apart)` : ''}.`
        : `The bill is consistent with free-tier scope ${consistent.join(' or ')}, not with the configured ${configured}: set FRS_METER_FREE_TIER_SCOPE=${consistent[0]}.`;
  return { consistent, configured, text };
}

function explain(
  diff: number | null,
  metered: number,
  a: OperationAttribution | undefined,
  billedAmount: Money | null,
  estimate: string | null,
  provisional: boolean,
  possibly: number,
  gateway: number,
): Cause[] {
  if (diff === null) return [{ code: 'no_bill', explains: false, text: 'No bill stored for this month.' }];
  const causes: Cause[] = [];
  if (diff < 0) {
    let left = -diff;
    const p = Math.min(left, possibly);
    if (p > 0) {
      causes.push({
        code: 'possibly_billed',
        calls: p,
        explains: true,
        text: `${p} billed call(s) are attempts frs-meter cut at its timeout or lost the connection of after sending (${possibly} such attempts metered as possibly billed): FRS completed and billed them.`,
      });
      left -= p;
    }
    const g = Math.min(left, gateway);
    if (g > 0) {
      causes.push({ code: 'gateway_timeout', calls: g, explains: true, text: `${g} billed call(s) match attempts the gateway answered APIG.0201 (backend timeout, ${gateway} metered): the backend finished them after the gateway gave up.` });
      left -= g;
    }
    if (left > 0) {
      causes.push({
        code: 'bypass',
        calls: left,
        explains: false,
        text: `${left} billed call(s) did not go through frs-meter: calls that bypassed the proxy (other clients with the same account's credentials) or from other regions, projects or member accounts on the same bill. Unexplained until you confirm it.`,
      });
    }
  } else if (diff > 0) {
    let left = diff;
    const qps = Math.min(left, a?.qps_package ?? 0);
    if (qps > 0) {
      causes.push({ code: 'qps_package', calls: qps, explains: true, text: `${qps} metered call(s) fell under a QPS package within its rate, which FRS does not bill per call.` });
      left -= qps;
    }
    if (left > 0 && provisional) {
      causes.push({ code: 'provisional', calls: left, explains: true, text: `${left} metered call(s) are not on the bill yet: the month is provisional and BSS usage lags up to 24 hours.` });
      left = 0;
    }
    if (left > 0) {
      causes.push({
        code: 'unbilled',
        calls: left,
        explains: false,
        text: `${left} metered call(s) are not on the final bill: check that BILLING_TIMEZONE cuts months like Huawei (GMT+8) and that the bill is for the account and region frs-meter calls.`,
      });
    }
  }
  if (diff === 0 && estimate !== null && billedAmount !== null) {
    const rounded = new Money(estimate).toDecimalPlaces(2, Money.ROUND_HALF_UP);
    if (!rounded.eq(billedAmount)) {
      causes.push({
        code: 'amount_accounting',
        explains: false,
        text: `Calls match but the amount differs (estimated ${formatMoney(rounded)}, billed ${formatMoney(billedAmount)}): free-tier or call-package accounting differs from frs-meter's (FRS_METER_FREE_TIER_*, FRS_METER_DRAWDOWN_ORDER, registered call packages) or the price table is not the contract's.`,
      });
    }
  }
  if (causes.length === 0) causes.push({ code: 'match', explains: true, text: metered === 0 ? 'No calls metered or billed.' : 'Metered and billed calls match.' });
  return causes;
}

function unmappedCauses(resourceTypes: readonly string[]): Cause[] {
  const list = resourceTypes.length > 0 ? resourceTypes.join(', ') : 'no resource type';
  return [
    {
      code: 'unmapped',
      explains: false,
      text: `Bill records no operation is mapped to (resource types: ${list}): package purchases and other charges, or codes FRS_METER_BSS_OPERATION_MAP does not know yet.`,
    },
  ];
}

/** Shares of the bill per app and the unattributed rows; see SHARING_RULE. */
function shareBill(
  billTotal: Money,
  lines: readonly OperationLine[],
  byApp: ReadonlyMap<string, ReadonlyMap<string, number>>,
  appCosts: ReadonlyMap<string, ReadonlyMap<string, Money | null>> | undefined,
  totalMetered: number,
  notes: string[],
): { apps: AppShare[]; unattributed: UnattributedRow[] } {
  const cents = billTotal.toDecimalPlaces(2, Money.ROUND_HALF_UP);
  if (!cents.eq(billTotal)) notes.push(`The bill total ${canonical(billTotal)} has more than two decimals; shares are of ${formatMoney(cents)}.`);

  // Exact (unrounded) amounts: per app and operation, and per unattributed row.
  const exact = new Map<string, Map<string, Money>>();
  const rest: { key: string; cause: UnattributedCause; operation: string | null; calls: number | null; amount: Money; text: string }[] = [];
  let lineSum = new Money(0);
  for (const l of lines) {
    const amount = dec(l.billed_amount);
    lineSum = lineSum.plus(amount);
    if (l.operation === UNMAPPED) {
      if (!amount.isZero()) rest.push({ key: 'unmapped', cause: 'unmapped', operation: null, calls: null, amount, text: 'Bill records no operation maps to: package purchases and other charges.' });
      continue;
    }
    const users = [...byApp].filter(([, ops]) => (ops.get(l.operation) ?? 0) > 0);
    const metered = users.reduce((s, [, ops]) => s + (ops.get(l.operation) ?? 0), 0);
    if (metered === 0) {
      if (!amount.isZero()) rest.push({ key: `none:${l.operation}`, cause: 'no_metered_calls', operation: l.operation, calls: l.billed_calls, amount, text: `${l.operation}: billed, but no app called it through frs-meter this month.` });
      continue;
    }
    // Each app's own calls, priced; without a price for the operation, the bill's amount per billed call.
    const priced = users.map(([app, ops]) => {
      const cost = appCosts?.get(app)?.get(l.operation);
      const calls = ops.get(l.operation) ?? 0;
      const billedCalls = Math.max(l.billed_calls ?? 0, metered);
      return [app, cost !== null && cost !== undefined ? cost : amount.times(calls).div(billedCalls)] as const;
    });
    let own = priced.reduce((s, [, c]) => s.plus(c), new Money(0));
    let scale = new Money(1);
    if (own.gt(amount)) {
      scale = own.isZero() ? new Money(0) : amount.div(own);
      notes.push(`${l.operation}: the apps' priced calls (${formatMoney(own)}) exceed the billed amount (${formatMoney(amount)}); their shares are scaled down to the bill.`);
      own = amount;
    }
    for (const [app, c] of priced) {
      let parts = exact.get(app);
      if (!parts) exact.set(app, (parts = new Map()));
      parts.set(l.operation, c.times(scale));
    }
    const left = amount.minus(own);
    if (!left.isZero()) {
      const bypass = (l.billed_calls ?? 0) > l.metered_calls;
      rest.push({
        key: `${bypass ? 'bypass' : 'pricing'}:${l.operation}`,
        cause: bypass ? 'bypass' : 'pricing',
        operation: l.operation,
        calls: bypass ? (l.billed_calls ?? 0) - l.metered_calls : null,
        amount: left,
        text: bypass
          ? `${l.operation}: ${(l.billed_calls ?? 0) - l.metered_calls} billed call(s) frs-meter did not meter (bypass, other regions or accounts).`
          : `${l.operation}: the bill prices the metered calls higher than the price table does.`,
      });
    }
  }
  const other = cents.minus(lineSum);
  if (!other.isZero()) rest.push({ key: 'rounding', cause: 'rounding', operation: null, calls: null, amount: other, text: 'The monthly summary differs from the sum of the records (rounding to the cent, charges outside the records).' });

  const weights: [string, Money][] = [...exact].map(([app, parts]) => [`app:${app}`, [...parts.values()].reduce((s, v) => s.plus(v), new Money(0))]);
  for (const r of rest) weights.push([`rest:${r.key}`, r.amount]);
  // Largest remainder needs non-negative weights: a negative rounding row is taken off first.
  const negative = weights.filter(([, w]) => w.isNegative());
  const positive = weights.filter(([, w]) => !w.isNegative());
  const negativeCents = negative.reduce((s, [, w]) => s.plus(w.toDecimalPlaces(2, Money.ROUND_HALF_UP)), new Money(0));
  const { parts, unallocated } = allocate(cents.minus(negativeCents), positive);
  for (const [k, w] of negative) parts.set(k, w.toDecimalPlaces(2, Money.ROUND_HALF_UP));

  const apps: AppShare[] = [...byApp.keys()].sort().map((app) => {
    const ops = byApp.get(app) as ReadonlyMap<string, number>;
    const n = [...ops.values()].reduce((s, x) => s + x, 0);
    const share = parts.get(`app:${app}`) ?? new Money(0);
    const split = allocate(share, [...(exact.get(app) ?? new Map<string, Money>())]);
    const operations: Record<string, { calls: number; amount: string | null }> = {};
    for (const [op, calls] of [...ops].sort((a, b) => (a[0] < b[0] ? -1 : 1))) operations[op] = { calls, amount: formatMoney(split.parts.get(op) ?? new Money(0)) };
    return { app, billable_calls: n, share_of_calls: totalMetered > 0 ? new Money(n).div(totalMetered).toFixed(4) : '0.0000', share_amount: formatMoney(share), operations };
  });
  const unattributed: UnattributedRow[] = rest.map((r, i) => ({
    cause: r.cause,
    operation: r.operation,
    calls: r.calls,
    amount: formatMoney((parts.get(`rest:${r.key}`) ?? new Money(0)).plus(i === 0 ? unallocated : 0)) as string,
    text: r.text,
  }));
  if (unattributed.length === 0 && !unallocated.isZero()) unattributed.push({ cause: 'rounding', operation: null, calls: null, amount: formatMoney(unallocated) as string, text: 'Rounding.' });
  const total = unattributed.reduce((s, r) => s.plus(r.amount), new Money(0));
  if (!total.isZero()) notes.push(`${formatMoney(total)} of the bill is not for any app's metered calls; see unattributed for the causes (shown as ${UNATTRIBUTED_APP}).`);
  return { apps, unattributed };
}
