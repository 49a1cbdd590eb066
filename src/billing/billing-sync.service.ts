// Pulls bills from BSS and stores them. One month is one unit: every page of the summary and of
// both kinds of resource records is fetched into memory first, then written in one transaction,
// so a failure on any page writes nothing and the month stored before stays as it was.

import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { CONFIG, Config } from '../config/config';
import { Clock } from '../common/clock';
import { MONTH_RE, billingMonthOf } from '../common/billing-month';
import { BssClient, BssError } from './bss-client';
import { normalizeMonth, normalizePackages } from './bill-normalize';
import { BillingRepository } from './billing.repository';
import { BillStatus, SyncPolicy, monthStatusAt } from './sync-plan';
import { formatMoney } from './money';

export interface MonthSyncResult {
  readonly bill_cycle: string;
  readonly status: BillStatus;
  /** false when the pull was identical to what was stored (only fetched_at moved). */
  readonly changed: boolean;
  readonly service_type_code: string;
  readonly currency: string | null;
  readonly consume_amount: string;
  readonly summary_rows: number;
  readonly aggregated_records: number;
  readonly detailed_records: number;
  readonly fetched_at: string;
}

export interface PackagesSyncResult {
  readonly packages: number;
  readonly items: number;
  readonly changed: boolean;
  readonly snapshot_at: string;
  readonly fetched_at: string;
}

export function syncPolicy(config: Config): SyncPolicy {
  return {
    timeZone: config.usage.billingTimezone,
    finalDay: config.billing.finalDay,
    finalHour: config.billing.finalHour,
    finalUntilDay: config.billing.finalUntilDay,
  };
}

export function createBssClient(config: Config, clock: Clock): BssClient {
  const b = config.billing;
  return new BssClient({
    endpoint: b.endpoint,
    auth: config.upstream.auth,
    language: b.language,
    requestsPerSecond: b.requestsPerSecond,
    maxAttempts: b.maxAttempts,
    backoffBaseMs: b.backoffBaseMs,
    backoffMaxMs: b.backoffMaxMs,
    timeoutMs: b.timeoutMs,
    clock,
    tlsRejectUnauthorized: config.upstream.tlsRejectUnauthorized,
  });
}

export class BillingInputError extends Error {}

@Injectable()
export class BillingSyncService implements OnApplicationShutdown {
  private readonly logger = new Logger('BillingSync');
  private serviceTypeCode?: string;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly clock: Clock,
    private readonly repo: BillingRepository,
    private readonly client: BssClient,
  ) {
    this.serviceTypeCode = config.billing.serviceTypeCode;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.client.close();
  }

  /** Whether `month` is final at the current time (a pure function of the clock). */
  statusOf(month: string): BillStatus {
    return monthStatusAt(month, this.clock.now(), syncPolicy(this.config));
  }

  /**
   * FRS's service_type_code: pinned by FRS_METER_BSS_SERVICE_TYPE_CODE, else looked up once by
   * name in the service-types dictionary (an exact name match wins over a fuzzy one).
   */
  async resolveServiceTypeCode(): Promise<string> {
    if (this.serviceTypeCode) return this.serviceTypeCode;
    const name = this.config.billing.serviceTypeName;
    const found = await this.client.serviceTypes(name);
    const exact = found.filter((s) => s.service_type_name === name);
    const pick = exact.length === 1 ? exact[0] : found.length === 1 ? found[0] : undefined;
    if (!pick || typeof pick.service_type_code !== 'string') {
      const list = found.map((s) => `${String(s.service_type_name)}=${String(s.service_type_code)}`).join(', ') || 'none';
      throw new BssError('GET', '/v2/products/service-types', 200, 'METER.BSS_SERVICE_TYPE', `no single service type named ${JSON.stringify(name)} (found: ${list}); set FRS_METER_BSS_SERVICE_TYPE_CODE`, false);
    }
    this.serviceTypeCode = pick.service_type_code;
    this.logger.log(`FRS service type code: ${pick.service_type_code} (pin it with FRS_METER_BSS_SERVICE_TYPE_CODE)`);
    return pick.service_type_code;
  }

  /** Pulls and stores one bill cycle; its status (provisional or final) follows the clock. */
  async syncMonth(month: string): Promise<MonthSyncResult> {
    if (!MONTH_RE.test(month)) throw new BillingInputError(`not a month: ${JSON.stringify(month)} (expected YYYY-MM)`);
    const current = billingMonthOf(this.clock.now(), this.config.usage.billingTimezone);
    if (month > current) throw new BillingInputError(`${month} has not started yet (the current billing month is ${current})`);
    const startedAt = this.clock.now();
    try {
      const code = await this.resolveServiceTypeCode();
      const status = this.statusOf(month);
      // Everything in memory first: nothing is written unless every page arrived.
      const monthlySum = await this.client.monthlySum(month, code);
      const aggregated = await this.client.resFeeRecords(month, code, 1);
      const detailed = await this.client.resFeeRecords(month, code, 3);
      const data = normalizeMonth({ cycle: month, serviceTypeCode: code, monthlySum, aggregated, detailed }, status, this.config.billing.operationMap);
      const now = this.clock.now();
      const { changed } = await this.repo.saveMonth(data, now);
      await this.repo.markSync(['monthly_sum', 'resource_records'], true, now);
      const result: MonthSyncResult = {
        bill_cycle: month,
        status,
        changed,
        service_type_code: code,
        currency: data.currency,
        consume_amount: formatMoney(data.totals.consume_amount) ?? '0.00',
        summary_rows: data.summary.length,
        aggregated_records: data.records.filter((r) => r.statistic_type === 1).length,
        detailed_records: data.records.filter((r) => r.statistic_type === 3).length,
        fetched_at: new Date(now).toISOString(),
      };
      this.logger.log(
        `bill ${month} (${status}) ${changed ? 'stored' : 'unchanged'}: ${result.consume_amount} ${result.currency ?? ''}, ${result.summary_rows} summary rows, ${result.aggregated_records}+${result.detailed_records} records`,
      );
      return result;
    } catch (err) {
      await this.repo.markSync(['monthly_sum', 'resource_records'], false, startedAt, (err as Error).message).catch(() => undefined);
      throw err;
    }
  }

  /** Pulls the FRS resource packages and what is left of them; stores a snapshot when anything changed. */
  async syncPackages(): Promise<PackagesSyncResult> {
    const startedAt = this.clock.now();
    try {
      const code = await this.resolveServiceTypeCode();
      const packages = await this.client.freeResourcePackages(code);
      const ids = [
        ...new Set(
          packages.flatMap((p) => (Array.isArray(p.free_resources) ? (p.free_resources as Record<string, unknown>[]) : []).map((r) => r.free_resource_id).filter((id): id is string => typeof id === 'string')),
        ),
      ];
      const usages = ids.length > 0 ? await this.client.freeResourceUsages(ids) : [];
      const { items, contentSha256 } = normalizePackages(packages, usages);
      const now = this.clock.now();
      const saved = await this.repo.savePackages(items, contentSha256, now);
      return { packages: packages.length, items: items.length, changed: saved.changed, snapshot_at: saved.snapshotAt.toISOString(), fetched_at: new Date(now).toISOString() };
    } catch (err) {
      await this.repo.markSync(['packages'], false, startedAt, (err as Error).message).catch(() => undefined);
      throw err;
    }
  }
}
