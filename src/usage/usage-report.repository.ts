// Month totals for the usage report, read from the per-month rollup usage_month_totals.

import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DATA_SOURCE } from '../database/database';

export interface OperationTotalsRow {
  readonly operation: string;
  readonly kind: 'request' | 'attempt';
  readonly outcome: string;
  readonly errorCode: string;
  readonly count: number;
  readonly billable: number;
  readonly possiblyBilled: number;
}

export interface AppTotalsRow {
  readonly app: string;
  readonly operation: string;
  readonly requests: number;
  readonly attempts: number;
  readonly billable: number;
}

@Injectable()
export class UsageReportRepository {
  constructor(@Inject(DATA_SOURCE) private readonly db: DataSource) {}

  async operationTotals(month: string, app?: string): Promise<OperationTotalsRow[]> {
    const rows: { operation: string; kind: 'request' | 'attempt'; outcome: string; error_code: string; count: string; billable: string; possibly: string }[] = await this.db.query(
      `SELECT operation, kind, outcome, error_code, SUM(count)::bigint AS count, SUM(billable)::bigint AS billable, SUM(possibly_billed)::bigint AS possibly
       FROM usage_month_totals WHERE billing_month = $1 AND ($2::text IS NULL OR app = $2)
       GROUP BY operation, kind, outcome, error_code`,
      [month, app ?? null],
    );
    return rows.map((r) => ({ operation: r.operation, kind: r.kind, outcome: r.outcome, errorCode: r.error_code, count: Number(r.count), billable: Number(r.billable), possiblyBilled: Number(r.possibly) }));
  }

  async appTotals(month: string, app?: string): Promise<AppTotalsRow[]> {
    const rows: { app: string; operation: string; requests: string; attempts: string; billable: string }[] = await this.db.query(
      `SELECT app, operation,
              COALESCE(SUM(count) FILTER (WHERE kind = 'request'), 0)::bigint AS requests,
              COALESCE(SUM(count) FILTER (WHERE kind = 'attempt'), 0)::bigint AS attempts,
              SUM(billable)::bigint AS billable
       FROM usage_month_totals WHERE billing_month = $1 AND ($2::text IS NULL OR app = $2)
       GROUP BY app, operation ORDER BY app, operation`,
      [month, app ?? null],
    );
    return rows.map((r) => ({ app: r.app, operation: r.operation, requests: Number(r.requests), attempts: Number(r.attempts), billable: Number(r.billable) }));
  }
}

export interface MinuteCountsRow {
  /** Start of the minute, unix seconds. */
  readonly minute: number;
  readonly requests: number;
  readonly billable: number;
}

/** Calls per minute over a time range, all apps and operations (the console's 24 h chart), from the rollup usage_minute_totals. */
@Injectable()
export class UsageTimelineRepository {
  constructor(@Inject(DATA_SOURCE) private readonly db: DataSource) {}

  async callsPerMinute(fromMs: number, toMs: number): Promise<MinuteCountsRow[]> {
    const rows: { minute: string; requests: string; billable: string }[] = await this.db.query(
      `SELECT EXTRACT(EPOCH FROM minute)::bigint AS minute, requests, billable
       FROM usage_minute_totals WHERE minute >= $1 AND minute < $2 ORDER BY minute`,
      [new Date(fromMs), new Date(toMs)],
    );
    return rows.map((r) => ({ minute: Number(r.minute), requests: Number(r.requests), billable: Number(r.billable) }));
  }
}
