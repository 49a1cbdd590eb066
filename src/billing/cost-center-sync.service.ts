// Pulls FRS's daily costs from Huawei's Cost Center (POST /v4/costs/cost-analysed-bills/query,
// billing-api.md §8) for the days of one month up to today, and stores them: every day of the
// range is replaced in one transaction, days without costs included (they are known to be 0).
// Cost Center lags Billing Center by about an hour and is not final; a day counts as provisional
// once a pull ran FRS_METER_COST_CENTER_LAG_MINUTES after it ended (daily-reconciliation.ts).

import { Inject, Injectable, Logger } from '@nestjs/common';
import { CONFIG, Config } from '../config/config';
import { Clock } from '../common/clock';
import { billingMonthOf, dayStarts, MONTH_RE } from '../common/billing-month';
import { BssClient, BssError, COST_CENTER_PATH, JsonObject } from './bss-client';
import { BillingInputError, BillingSyncService } from './billing-sync.service';
import { BillingRepository } from './billing.repository';
import { CostCenterRepository, CostCenterRow } from './cost-center.repository';
import { MappedField, operationOf } from './operation-map';
import { amount as parseAmount, Money, canonical } from './money';

export interface CostCenterSyncResult {
  readonly month: string;
  readonly days: string[];
  readonly rows: number;
  readonly currency: string | null;
  readonly total: string;
  readonly fetched_at: string;
}

const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;

@Injectable()
export class CostCenterSyncService {
  private readonly logger = new Logger('CostCenterSync');

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly clock: Clock,
    private readonly client: BssClient,
    private readonly billing: BillingSyncService,
    private readonly billingRepo: BillingRepository,
    private readonly repo: CostCenterRepository,
  ) {}

  /** The local dates of `month` up to today (all of them for a past month). */
  daysOf(month: string): string[] {
    const tz = this.config.usage.billingTimezone;
    const now = this.clock.now();
    return dayStarts(month, tz)
      .filter((start) => start <= now)
      .map((start) => localDate(start, tz));
  }

  async syncMonth(month: string): Promise<CostCenterSyncResult> {
    if (!MONTH_RE.test(month)) throw new BillingInputError(`not a month: ${JSON.stringify(month)} (expected YYYY-MM)`);
    const current = billingMonthOf(this.clock.now(), this.config.usage.billingTimezone);
    if (month > current) throw new BillingInputError(`${month} has not started yet (the current billing month is ${current})`);
    const startedAt = this.clock.now();
    try {
      const days = this.daysOf(month);
      const code = await this.billing.resolveServiceTypeCode();
      const groupBy = this.config.billing.costCenter.groupBy;
      const { first, items } = await this.client.dailyCosts(days[0], days[days.length - 1], code, groupBy);
      const rows = normalizeCosts(items, groupBy, new Set(days), this.config.billing.operationMap);
      const currency = typeof first.currency === 'string' ? first.currency : null;
      const now = this.clock.now();
      await this.repo.saveDays(days, rows, currency, now);
      await this.billingRepo.markSync(['cost_center'], true, now);
      const total = rows.reduce((s, r) => s.plus(r.amount), new Money(0));
      this.logger.log(`Cost Center ${month}: ${days.length} days, ${rows.length} rows, ${canonical(total)} ${currency ?? ''}`);
      return { month, days, rows: rows.length, currency, total: canonical(total), fetched_at: new Date(now).toISOString() };
    } catch (err) {
      await this.billingRepo.markSync(['cost_center'], false, startedAt, (err as Error).message).catch(() => undefined);
      throw err;
    }
  }
}

/**
 * Cost Center's `cost_data` as rows: one per (day, dimension value), amounts exact (strings or
 * numbers, never through a float). Days outside the requested ones are refused, not dropped: they
 * would mean the request was not understood.
 */
export function normalizeCosts(items: readonly JsonObject[], groupBy: string, days: ReadonlySet<string>, map: Parameters<typeof operationOf>[1]): CostCenterRow[] {
  const field = groupBy.toLowerCase() as MappedField;
  const byKey = new Map<string, { day: string; dimension: string; operation: string | null; amount: Money }>();
  for (const item of items) {
    const dims = Array.isArray(item.dimensions) ? (item.dimensions as JsonObject[]) : [];
    const dim = dims.find((d) => d.key === groupBy) ?? dims[0];
    const dimension = typeof dim?.value === 'string' && dim.value !== '' ? dim.value : '(none)';
    const operation = operationOf({ [field]: dimension }, map) ?? null;
    const costs = Array.isArray(item.costs) ? (item.costs as JsonObject[]) : [];
    for (const c of costs) {
      const day = c.time_dimension_value;
      if (typeof day !== 'string' || !DAY_RE.test(day) || !days.has(day)) {
        throw new BssError('POST', COST_CENTER_PATH, 200, 'METER.BSS_SHAPE', `cost for ${JSON.stringify(day)} is not one of the days asked for`, false);
      }
      const a = parseAmount(c.amount, undefined, `${COST_CENTER_PATH} amount`);
      if (a === null) continue;
      const key = `${day}|${dimension}`;
      const acc = byKey.get(key);
      if (acc) acc.amount = acc.amount.plus(a);
      else byKey.set(key, { day, dimension, operation, amount: new Money(a) });
    }
  }
  return [...byKey.values()].sort((x, y) => (x.day < y.day ? -1 : x.day > y.day ? 1 : x.dimension < y.dimension ? -1 : 1)).map((r) => ({ ...r, amount: canonical(r.amount) }));
}

export function localDate(ms: number, timeZone: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(ms));
}
