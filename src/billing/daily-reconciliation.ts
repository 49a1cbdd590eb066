// Each day of a month, reconciled as far as Huawei's data goes. A day moves through three stages,
// and every row says which it is in:
//   estimated   — metered only: frs-meter's own cost estimate, nothing from Huawei yet;
//   provisional — Cost Center's daily cost for the day (pulled at least the Cost Center lag
//                 after the day ended), not yet a bill;
//   final       — the month's bill is final; the day's amount is what its detail records say.
// The metered side (valid calls and their cost estimate per day) comes from the drawdown engine,
// the one place that decides which calls were free, packaged or paid. A difference smaller than
// half a cent is rounding (Huawei rounds; the estimate does not); anything else is unexplained.

import type { DailyAttribution } from '../drawdown/drawdown.service';
import type { CostCenterMonth } from './cost-center.repository';
import { Money, canonical } from './money';

export type DayStatus = 'estimated' | 'provisional' | 'final';

export interface DailyRow {
  readonly day: string;
  readonly operation: string;
  readonly status: DayStatus;
  readonly metered_calls: number;
  readonly free_tier: number;
  readonly call_package: number;
  readonly pay_per_use: number;
  /** frs-meter's estimate (price table); null without a price for the operation or for unmapped costs. */
  readonly estimated_cost: string | null;
  /** Cost Center's amount for the day; null when no pull covered the day (late enough). */
  readonly cost_center_amount: string | null;
  /** The final bill's amount for the day; null until the month is final. */
  readonly final_amount: string | null;
  /** estimated − the amount of the row's stage; null while estimated or without an estimate. */
  readonly difference_amount: string | null;
  /** The part of the difference no known cause explains. */
  readonly unexplained_amount: string | null;
  readonly explanation: string;
}

export interface DaySummary {
  readonly day: string;
  readonly status: DayStatus;
  readonly estimated_cost: string | null;
  readonly huawei_amount: string | null;
  readonly difference_amount: string | null;
  readonly unexplained_amount: string | null;
}

export interface DailyReconciliation {
  readonly days: DaySummary[];
  readonly rows: DailyRow[];
}

export interface DailyInputs {
  /** Local dates of the month up to today, ascending. */
  readonly days: readonly string[];
  /** When each local day ends (epoch ms). */
  readonly dayEnd: (day: string) => number;
  readonly metered: readonly DailyAttribution[];
  readonly costCenter: CostCenterMonth;
  /** Per day and operation from the final bill; null while the month is not final. */
  readonly finalDaily: readonly { day: string; operation: string | null; amount: string }[] | null;
  readonly lagMs: number;
}

const UNMAPPED = 'unmapped';
const ROUNDING = new Money('0.005');

export function reconcileDays(inp: DailyInputs): DailyReconciliation {
  const pulled = new Map(inp.costCenter.days.map((d) => [d.day, new Date(d.fetched_at).getTime()]));
  const cc = new Map<string, Money>();
  for (const r of inp.costCenter.rows) {
    const k = `${r.day}|${r.operation ?? UNMAPPED}`;
    cc.set(k, (cc.get(k) ?? new Money(0)).plus(r.amount));
  }
  const fin = new Map<string, Money>();
  for (const r of inp.finalDaily ?? []) {
    const k = `${r.day}|${r.operation ?? UNMAPPED}`;
    fin.set(k, (fin.get(k) ?? new Money(0)).plus(r.amount));
  }
  const metered = new Map(inp.metered.map((m) => [`${m.day}|${m.operation}`, m]));

  const rows: DailyRow[] = [];
  const days: DaySummary[] = [];
  for (const day of inp.days) {
    const status: DayStatus =
      inp.finalDaily !== null ? 'final' : (pulled.get(day) ?? -Infinity) >= inp.dayEnd(day) + inp.lagMs ? 'provisional' : 'estimated';
    const ops = new Set<string>();
    for (const k of [...metered.keys(), ...cc.keys(), ...fin.keys()]) if (k.startsWith(`${day}|`)) ops.add(k.slice(day.length + 1));
    const ordered = [...ops].filter((o) => o !== UNMAPPED);
    if (ops.has(UNMAPPED)) ordered.push(UNMAPPED);
    let est: Money | null = new Money(0);
    let huawei: Money | null = status === 'estimated' ? null : new Money(0);
    let unexplained: Money | null = status === 'estimated' ? null : new Money(0);
    for (const op of ordered) {
      const m = metered.get(`${day}|${op}`);
      const ccAmount = status === 'estimated' || !pulled.has(day) ? null : (cc.get(`${day}|${op}`) ?? new Money(0));
      const finalAmount = status === 'final' ? (fin.get(`${day}|${op}`) ?? new Money(0)) : null;
      const stageAmount = status === 'final' ? finalAmount : status === 'provisional' ? ccAmount : null;
      const estimate = op === UNMAPPED ? null : m?.estimated_cost != null ? new Money(m.estimated_cost) : m ? null : new Money(0);
      const diff = stageAmount !== null && estimate !== null ? estimate.minus(stageAmount) : null;
      const rounding = diff !== null && diff.abs().lt(ROUNDING);
      const unexp = diff === null ? null : rounding ? new Money(0) : diff;
      let explanation: string;
      if (op === UNMAPPED) explanation = 'costs that map to no operation (package purchases, codes not in FRS_METER_BSS_OPERATION_MAP): not compared';
      else if (status === 'estimated') explanation = 'metered only: no Cost Center pull has covered this day yet';
      else if (estimate === null) explanation = 'no price for the operation in the price table: nothing to compare';
      else if (diff!.isZero()) explanation = 'match';
      else if (rounding) explanation = `rounding: ${canonical(diff!)} is under half a cent`;
      else explanation = `frs-meter estimated ${canonical(diff!.abs())} ${diff!.gt(0) ? 'more' : 'less'} than Huawei ${status === 'final' ? 'billed' : 'reports'} for the day`;
      rows.push({
        day,
        operation: op,
        status,
        metered_calls: m?.valid_calls ?? 0,
        free_tier: m?.free_tier ?? 0,
        call_package: m?.call_package ?? 0,
        pay_per_use: m?.pay_per_use ?? 0,
        estimated_cost: estimate === null ? null : canonical(estimate),
        cost_center_amount: ccAmount === null ? null : canonical(ccAmount),
        final_amount: finalAmount === null ? null : canonical(finalAmount),
        difference_amount: diff === null ? null : canonical(diff),
        unexplained_amount: unexp === null ? null : canonical(unexp),
        explanation,
      });
      if (op === UNMAPPED) continue;
      est = est === null || estimate === null ? null : est.plus(estimate);
      if (huawei !== null && stageAmount !== null) huawei = huawei.plus(stageAmount);
      if (unexplained !== null) unexplained = unexp === null ? unexplained : unexplained.plus(unexp);
    }
    days.push({
      day,
      status,
      estimated_cost: est === null ? null : canonical(est),
      huawei_amount: huawei === null ? null : canonical(huawei),
      difference_amount: est === null || huawei === null ? null : canonical(est.minus(huawei)),
      unexplained_amount: unexplained === null ? null : canonical(unexplained),
    });
  }
  return { days, rows };
}
