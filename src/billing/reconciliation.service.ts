// GET /admin/reconciliation/{month}: flushes this replica's usage, reads the stored bill and the
// metered usage from one database snapshot, asks the quota module where each call's cost fell,
// and hands everything to the pure reconcile().

import { Inject, Injectable } from '@nestjs/common';
import { CONFIG, Config, isBillable } from '../config/config';
import { OPERATIONS } from '../frs/operations';
import { CostAttributionService } from '../quota/cost-attribution.service';
import { UsageService } from '../usage/usage.service';
import { BillingRepository } from './billing.repository';
import { ReconciliationReport, reconcile } from './reconciliation';

@Injectable()
export class ReconciliationService {
  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly repo: BillingRepository,
    private readonly attribution: CostAttributionService,
    private readonly usage: UsageService,
  ) {}

  async report(month: string): Promise<ReconciliationReport> {
    await this.usage.flush();
    const [inputs, attribution] = await Promise.all([this.repo.reconciliationInputs(month), this.attribution.attribute(month)]);
    const operations = OPERATIONS.filter((o) => isBillable(this.config, o.name)).map((o) => o.name);
    return reconcile(inputs, attribution, { month, operations });
  }
}
