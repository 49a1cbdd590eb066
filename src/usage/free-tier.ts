// The monthly free calls (reference/frs-api.md §3.1): by default the first 2,000 valid calls per
// billable operation each billing month, action liveness excluded. Huawei's pages disagree on
// whether silent liveness is excluded too and on whether the allowance is per API or pooled, so
// amount, scope and exclusions are configuration (FRS_METER_FREE_TIER_*).

import { Config, isBillable } from '../config/config';
import { OPERATION_BY_NAME, OperationName, BILLABLE_OPERATION_NAMES } from '../frs/operations';


export function freeTierEligible(config: Config, operation: OperationName): boolean {
  return (
    isBillable(config, operation) &&
    OPERATION_BY_NAME[operation].freeTierEligible &&
    !config.usage.freeTierExcluded.includes(operation)
  );
}

export interface FreeTierState {
  readonly operation: OperationName;
  /** Free calls this operation may use this month (the pool size when pooled). */
  readonly allowance: number;
  readonly used: number;
  readonly remaining: number;
}

/**
 * Free calls used and left per billable operation, given the month's valid calls so far.
 * Pooled: every eligible operation draws on one allowance; calls are attributed to the pool in
 * the order of the catalogue, which only matters for the per-operation `used` split.
 */
export function freeTierStates(config: Config, monthBillable: ReadonlyMap<string, number>): FreeTierState[] {
  const amount = config.usage.freeTierCalls;
  const ops = BILLABLE_OPERATION_NAMES.filter((o) => isBillable(config, o));
  if (config.usage.freeTierScope === 'per_operation') {
    return ops.map((operation) => {
      if (!freeTierEligible(config, operation)) return { operation, allowance: 0, used: 0, remaining: 0 };
      const used = Math.min(amount, monthBillable.get(operation) ?? 0);
      return { operation, allowance: amount, used, remaining: amount - used };
    });
  }
  let pool = amount;
  const used = new Map<string, number>();
  for (const operation of ops) {
    if (!freeTierEligible(config, operation)) continue;
    const take = Math.min(pool, monthBillable.get(operation) ?? 0);
    used.set(operation, take);
    pool -= take;
  }
  return ops.map((operation) =>
    freeTierEligible(config, operation)
      ? { operation, allowance: amount, used: used.get(operation) ?? 0, remaining: pool }
      : { operation, allowance: 0, used: 0, remaining: 0 },
  );
}

/** Of `n` valid calls numbered 1..n in a month, how many fall inside the free allowance. */
export function freeCallsAmong(config: Config, operation: OperationName, n: number): number {
  return freeTierEligible(config, operation) ? Math.min(n, config.usage.freeTierCalls) : 0;
}
