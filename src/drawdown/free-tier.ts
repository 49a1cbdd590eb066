// The monthly free calls (reference/frs-api.md §3.1, billing-api.md §8): the first N valid calls
// of a billing month, shared by a scope — each operation its own N (`per_operation`), each billing
// sub-service of the catalogue its own N (`per_sub_service`), or one N for the whole account
// (`per_account`, the default: Huawei's billing page says "each user" gets the first 2,000 calls
// a month). Huawei's pages disagree on the scope and on which liveness operations are excluded,
// so amount, scope and exclusions are configuration (FRS_METER_FREE_TIER_*); the reconciliation
// says which scope a final bill is consistent with. Only the drawdown engine uses this.

import { Config, isBillable } from '../config/config';
import { OPERATION_BY_NAME, OperationName } from '../frs/operations';

export type FreeTierScope = 'per_operation' | 'per_sub_service' | 'per_account';

export function freeTierEligible(config: Config, operation: OperationName): boolean {
  return isBillable(config, operation) && OPERATION_BY_NAME[operation].freeTierEligible && !config.usage.freeTierExcluded.includes(operation);
}

/** The allowance an operation's free calls are drawn from under a scope. */
export function freeTierKey(config: Config, operation: OperationName, scope: FreeTierScope = config.usage.freeTierScope): string {
  switch (scope) {
    case 'per_operation':
      return operation;
    case 'per_sub_service':
      return `sub:${OPERATION_BY_NAME[operation].subService}`;
    case 'per_account':
      return 'account';
  }
}
