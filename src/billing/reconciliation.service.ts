// GET /admin/reconciliation/{month}: flushes this replica's usage, reads the stored bill and the
// metered usage from one database snapshot, asks the drawdown engine where each call's cost fell,
// and hands everything to the pure reconcile().

import { Inject, Injectable } from '@nestjs/common';
import { CONFIG, Config, isBillable } from '../config/config';
import { OPERATIONS } from '../frs/operations';
import { DrawdownService } from '../drawdown/drawdown.service';
import { UsageService } from '../usage/usage.service';
import { BillingRepository } from './billing.repository';
import { ReconciliationReport, reconcile } from './reconciliation';

@Injectable()
export class ReconciliationService {
  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly repo: BillingRepository,
    private readonly drawdown: DrawdownService,
    private readonly usage: UsageService,
  ) {}

  async report(month: string): Promise<ReconciliationReport> {
    await this.usage.flush();
    const [inputs, attribution] = await Promise.all([this.repo.reconciliationInputs(month), this.drawdown.attribute(month)]);
    const operations = OPERATIONS.filter((o) => isBillable(this.config, o.name)).map((o) => o.name);
    return reconcile(inputs, attribution, { month, operations });
  }
}
