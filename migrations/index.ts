// Every migration, in order. Listed explicitly so ts-node, the compiled build and tests all run
// the same set; add a new migration here when you add its file.
import { CreateApps1763700000000 } from './1763700000000-CreateApps';
import { CreateUsage1763700001000 } from './1763700001000-CreateUsage';
import { CreateQuota1763700002000 } from './1763700002000-CreateQuota';
import { CreateBilling1763700003000 } from './1763700003000-CreateBilling';
import { CreateAdminAudit1764000900000 } from './1764000900000-CreateAdminAudit';
import { UsageAccounting1764001000000 } from './1764001000000-UsageAccounting';
import { CallPackageUsedAsOf1764001000100 } from './1764001000100-CallPackageUsedAsOf';
import { CreateQpsReplicas1764001200000 } from './1764001200000-CreateQpsReplicas';
import { CreateBudgets1764001201000 } from './1764001201000-CreateBudgets';
import { CreateCostCenterDaily1764001300000 } from './1764001300000-CreateCostCenterDaily';
import { CreateQpsSecondPeaks1764001301000 } from './1764001301000-CreateQpsSecondPeaks';
import { UsageMinuteTotals1764001400000 } from './1764001400000-UsageMinuteTotals';

export const MIGRATIONS = [
  CreateApps1763700000000,
  CreateUsage1763700001000,
  CreateQuota1763700002000,
  CreateBilling1763700003000,
  CreateAdminAudit1764000900000,
  UsageAccounting1764001000000,
  CallPackageUsedAsOf1764001000100,
  CreateQpsReplicas1764001200000,
  CreateBudgets1764001201000,
  CreateCostCenterDaily1764001300000,
  CreateQpsSecondPeaks1764001301000,
  UsageMinuteTotals1764001400000,
];
