// The reconciliation of one bill cycle, as a pure function of what is stored: per operation the
// calls frs-meter metered (split by where their cost fell) next to what Huawei billed, the
// difference and its likely causes; per app its share of the bill. Shares are pro rata to each
// app's metered valid calls, so the free calls (and call packages) are shared pro rata too, and
// are rounded to the cent by largest remainder so that they add up exactly to the bill.

import type { OperationAttribution } from '../drawdown/drawdown.service';
import type { BillStatus } from './sync-plan';
import type { ReconciliationInputs } from './billing.repository';
import { Money, allocate, canonical, formatMoney } from './money';

export type CauseCode =
  | 'match'
  | 'no_bill'
  | 'bypass'
  | 'unanswered_attempts'
  | 'provisional'
  | 'qps_package'
  | 'unbilled'
  | 'amount_accounting'
  | 'unmapped';

export interface Cause {
  readonly code: CauseCode;
  /** Calls this cause accounts for, when it is about calls. */
  readonly calls?: number;
  readonly text: string;
}

export interface OperationLine {
  readonly operation: string;
  readonly metered_calls: number;
  readonly qps_package: number;
  readonly call_package: number;
  readonly free_tier: number;
  readonly pay_per_use: number;
  /** Pay-per-use estimate from the price table; null without one. */
  readonly estimated_cost: string | null;
  /** null when no bill is stored for the month. */
  readonly billed_calls: number | null;
  /** Calls the bill says a resource package covered (free_resource_usage). */
  readonly billed_package_calls: number | null;
  readonly billed_amount: string | null;
  /** metered − billed; negative when Huawei billed more calls than frs-meter saw. */
  readonly difference_calls: number | null;
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
  /** Share of the bill, to the cent; the shares of all apps (and `unattributed`) add up to bill_total. */
  readonly share_amount: string | null;
  readonly operations: Record<string, { calls: number; amount: string | null }>;
  /** This app's part of what no operation explains (package purchases, unmapped records, rounding). */
  readonly other_amount: string | null;
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
    readonly billed_amount: string | null;
    readonly estimated_cost: string | null;
  };
  readonly operations: OperationLine[];
  readonly apps: AppShare[];
  /** Bill amount no metered call explains (operations billed without any metered call). */
  readonly unattributed_amount: string | null;
  readonly sharing_rule: string;
  readonly notes: string[];
}

export const SHARING_RULE =
  'Each operation\'s billed amount is shared among apps pro rata to their metered valid calls of that operation (free-tier and package calls included, so the free calls are shared pro rata too); amounts on the bill that belong to no operation (package purchases, unmapped records, rounding) are shared pro rata to all valid calls; the shares are rounded to the cent by largest remainder so they add up exactly to the bill.';

const UNMAPPED = 'unmapped';
export const UNATTRIBUTED_APP = '(unattributed)';

function dec(v: string | null | undefined): Money {
  return new Money(v ?? 0);
}

function callsOf(v: string | null | undefined): number {
  return v === null || v === undefined ? 0 : new Money(v).toNumber();
}

function fmt(m: Money | null): string | null {
  return m === null ? null : formatMoney(m);
}

export interface ReconcileOptions {
  readonly month: string;
  /** Billable operations in catalogue order: each gets a line even without calls. */
  readonly operations: readonly string[];
}

export function reconcile(inputs: ReconciliationInputs, attribution: readonly OperationAttribution[], opts: ReconcileOptions): ReconciliationReport {
  const m = inputs.month;
  const hasBill = m !== null;
  const provisional = m?.status === 'provisional';
  const attr = new Map(attribution.map((a) => [a.operation as string, a]));
  const billed = new Map(inputs.billed.map((b) => [b.operation ?? UNMAPPED, b]));

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
    const billedCalls = hasBill ? callsOf(b?.usage) : null;
    const billedAmount = hasBill ? dec(b?.amount) : null;
    const estimate = a?.estimated_cost ?? null;
    const diff = billedCalls === null || op === UNMAPPED ? null : metered - billedCalls;
    const diffAmount = estimate !== null && billedAmount !== null ? new Money(estimate).minus(billedAmount) : null;
    const causes = op === UNMAPPED ? unmappedCauses(b?.resource_types ?? []) : explain(diff, metered, a, billedAmount, estimate, provisional, inputs.unanswered.get(op) ?? 0);
    return {
      operation: op,
      metered_calls: metered,
      qps_package: a?.qps_package ?? 0,
      call_package: a?.call_package ?? 0,
      free_tier: a?.free_tier ?? 0,
      pay_per_use: a?.pay_per_use ?? 0,
      estimated_cost: estimate === null ? null : formatMoney(estimate),
      billed_calls: billedCalls,
      billed_package_calls: hasBill ? callsOf(b?.free_resource_usage) : null,
      billed_amount: fmt(billedAmount),
      difference_calls: diff,
      difference_amount: fmt(diffAmount),
      causes,
      explanation: causes.map((c) => c.text).join(' '),
    };
  });

  const totalMetered = [...meteredByOp.values()].reduce((s, n) => s + n, 0);
  const mappedLines = lines.filter((l) => l.operation !== UNMAPPED);
  const estimates = mappedLines.map((l) => l.estimated_cost).filter((e): e is string => e !== null);

  const notes: string[] = [];
  let shares: { apps: AppShare[]; unattributed: Money | null } = { apps: [], unattributed: null };
  if (m) {
    const billTotal = dec(m.consume_amount);
    const recordsTotal = dec(inputs.recordsTotal);
    if (!billTotal.eq(recordsTotal)) {
      notes.push(
        `The monthly summary (${formatMoney(billTotal)}) and the sum of the per-resource records (${formatMoney(recordsTotal)}) differ by ${formatMoney(billTotal.minus(recordsTotal))}: records carry up to 8 decimals while the deduction is rounded to the cent (Huawei advises against reconciling the two directly); the summary is what is charged.`,
      );
    }
    if (provisional) notes.push(`${opts.month} is provisional: Huawei's bill for it becomes final after 10:00 on the 4th of the next month (GMT+8); until then usage may lag up to 24 hours.`);
    shares = shareBill(billTotal, mappedLines, byApp, totalMetered, notes);
  } else {
    notes.push(`No bill is stored for ${opts.month}: run POST /admin/billing/sync {"month": "${opts.month}"}.`);
  }

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
      billed_amount: m ? formatMoney(lines.reduce((s, l) => s.plus(dec(l.billed_amount)), new Money(0))) : null,
      estimated_cost: estimates.length > 0 ? formatMoney(estimates.reduce((s, e) => s.plus(e), new Money(0))) : null,
    },
    operations: lines,
    apps: shares.apps,
    unattributed_amount: fmt(shares.unattributed),
    sharing_rule: SHARING_RULE,
    notes,
  };
}

function explain(
  diff: number | null,
  metered: number,
  a: OperationAttribution | undefined,
  billedAmount: Money | null,
  estimate: string | null,
  provisional: boolean,
  unanswered: number,
): Cause[] {
  if (diff === null) return [{ code: 'no_bill', text: 'No bill stored for this month.' }];
  const causes: Cause[] = [];
  if (diff < 0) {
    const excess = -diff;
    const retried = Math.min(excess, unanswered);
    if (retried > 0) {
      causes.push({
        code: 'unanswered_attempts',
        calls: retried,
        text: `${retried} billed call(s) may be upstream attempts that timed out or lost their connection (${unanswered} such attempts metered): FRS can have answered and billed them while frs-meter retried.`,
      });
    }
    if (excess - retried > 0) {
      causes.push({
        code: 'bypass',
        calls: excess - retried,
        text: `${excess - retried} billed call(s) did not go through frs-meter: calls that bypassed the proxy (other clients with the same account's credentials) or from other regions, projects or member accounts on the same bill.`,
      });
    }
  } else if (diff > 0) {
    let left = diff;
    const qps = Math.min(left, a?.qps_package ?? 0);
    if (qps > 0) {
      causes.push({ code: 'qps_package', calls: qps, text: `${qps} metered call(s) fell under a QPS package, whose calls FRS does not bill per call.` });
      left -= qps;
    }
    if (left > 0 && provisional) {
      causes.push({ code: 'provisional', calls: left, text: `${left} metered call(s) are not on the bill yet: the month is provisional and BSS usage lags up to 24 hours.` });
      left = 0;
    }
    if (left > 0) {
      causes.push({
        code: 'unbilled',
        calls: left,
        text: `${left} metered call(s) are not on the final bill: check that BILLING_TIMEZONE cuts months like Huawei (GMT+8) and that the bill is for the account and region frs-meter calls.`,
      });
    }
  }
  if (diff === 0 && estimate !== null && billedAmount !== null) {
    const rounded = new Money(estimate).toDecimalPlaces(2, Money.ROUND_HALF_UP);
    if (!rounded.eq(billedAmount)) {
      causes.push({
        code: 'amount_accounting',
        text: `Calls match but the amount differs (estimated ${formatMoney(rounded)}, billed ${formatMoney(billedAmount)}): free-tier or call-package accounting differs from frs-meter's (FRS_METER_FREE_TIER_*, FRS_METER_DRAWDOWN_ORDER, registered call packages) or the price table is not the contract's.`,
      });
    }
  }
  if (causes.length === 0) causes.push({ code: 'match', text: metered === 0 ? 'No calls metered or billed.' : 'Metered and billed calls match.' });
  return causes;
}

function unmappedCauses(resourceTypes: readonly string[]): Cause[] {
  const list = resourceTypes.length > 0 ? resourceTypes.join(', ') : 'no resource type';
  return [
    {
      code: 'unmapped',
      text: `Bill records no operation is mapped to (resource types: ${list}): package purchases and other charges, or codes FRS_METER_BSS_OPERATION_MAP does not know yet.`,
    },
  ];
}

/** Shares of the bill per app; see SHARING_RULE. */
function shareBill(
  billTotal: Money,
  lines: readonly OperationLine[],
  byApp: ReadonlyMap<string, ReadonlyMap<string, number>>,
  totalMetered: number,
  notes: string[],
): { apps: AppShare[]; unattributed: Money } {
  const cents = billTotal.toDecimalPlaces(2, Money.ROUND_HALF_UP);
  if (!cents.eq(billTotal)) notes.push(`The bill total ${canonical(billTotal)} has more than two decimals; shares are of ${formatMoney(cents)}.`);

  // Exact (unrounded) amount per app and part (an operation, or 'other').
  const exact = new Map<string, Map<string, Money>>();
  const add = (app: string, part: string, v: Money) => {
    let parts = exact.get(app);
    if (!parts) exact.set(app, (parts = new Map()));
    parts.set(part, (parts.get(part) ?? new Money(0)).plus(v));
  };
  let unattributed = new Money(0);
  let explained = new Money(0);
  for (const l of lines) {
    const amount = dec(l.billed_amount);
    const users = [...byApp].filter(([, ops]) => (ops.get(l.operation) ?? 0) > 0);
    const calls = users.reduce((s, [, ops]) => s + (ops.get(l.operation) ?? 0), 0);
    if (calls === 0) {
      unattributed = unattributed.plus(amount);
      continue;
    }
    explained = explained.plus(amount);
    for (const [app, ops] of users) add(app, l.operation, amount.times(ops.get(l.operation) ?? 0).div(calls));
  }
  const other = cents.minus(explained).minus(unattributed);
  if (!other.isZero()) {
    if (totalMetered > 0) {
      for (const [app, ops] of byApp) {
        const n = [...ops.values()].reduce((s, x) => s + x, 0);
        if (n > 0) add(app, 'other', other.times(n).div(totalMetered));
      }
    } else unattributed = unattributed.plus(other);
  }
  if (!unattributed.isZero()) {
    notes.push(`${formatMoney(unattributed)} of the bill is for operations no app called through frs-meter this month; it is shown as ${UNATTRIBUTED_APP}.`);
  }
  // Round each app's total to the cent first (so every app gets its nearest fair share), then
  // split each app's cents over its operations the same way.
  const appTotals: [string, Money][] = [...exact].map(([app, parts]) => [app, [...parts.values()].reduce((s, v) => s.plus(v), new Money(0))]);
  appTotals.push([UNATTRIBUTED_APP, unattributed]);
  const { parts: appCents, unallocated } = allocate(cents, appTotals);

  const apps: AppShare[] = [...byApp.keys()].sort().map((app) => {
    const ops = byApp.get(app) as ReadonlyMap<string, number>;
    const n = [...ops.values()].reduce((s, x) => s + x, 0);
    const share = appCents.get(app) ?? new Money(0);
    const parts = exact.get(app) ?? new Map<string, Money>();
    const split = allocate(share, [...parts]);
    const operations: Record<string, { calls: number; amount: string | null }> = {};
    for (const [op, calls] of [...ops].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      operations[op] = { calls, amount: formatMoney(split.parts.get(op) ?? new Money(0)) };
    }
    return {
      app,
      billable_calls: n,
      share_of_calls: totalMetered > 0 ? new Money(n).div(totalMetered).toFixed(4) : '0.0000',
      share_amount: formatMoney(share),
      operations,
      other_amount: formatMoney((split.parts.get('other') ?? new Money(0)).plus(split.unallocated)),
    };
  });
  const unattributedPart = (appCents.get(UNATTRIBUTED_APP) ?? new Money(0)).plus(unallocated);
  return { apps, unattributed: unattributedPart };
}
