// Reads and checks prometheus/thresholds.yml, the one place alert thresholds live; the alert
// generator and the dashboard generator both take their numbers from here.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export const THRESHOLDS_FILE = join(__dirname, 'thresholds.yml');

/** A Prometheus duration as written in rules (`30s`, `5m`, `36h`). */
export type Duration = string;

export interface Thresholds {
  readonly runbookBaseUrl: string;
  readonly qpsSaturation: { readonly ratio: number; readonly for: Duration };
  readonly throttling: { readonly ratio: number; readonly window: Duration; readonly for: Duration };
  readonly qpsPackageExpiry: { readonly days: number; readonly for: Duration };
  readonly callPackageExhaustion: { readonly days: number; readonly for: Duration };
  readonly callPackageLow: { readonly ratio: number; readonly for: Duration };
  readonly freeCallsLow: { readonly ratio: number; readonly minDaysLeftInMonth: number; readonly for: Duration };
  readonly errorRatio: { readonly ratio: number; readonly codes: string; readonly window: Duration; readonly for: Duration };
  readonly errorAnomaly: { readonly window: Duration; readonly factor: number; readonly minRatio: number; readonly minRequests: number; readonly for: Duration };
  readonly latencyNearTimeout: { readonly ratio: number; readonly for: Duration };
  readonly usageFlushStalled: { readonly seconds: number; readonly for: Duration };
  readonly billingSyncStale: { readonly hours: number; readonly for: Duration };
  readonly reconciliation: { readonly toleranceCalls: number; readonly for: Duration };
  readonly budget: { readonly thresholdFor: Duration; readonly forecastWindow: Duration; readonly forecastFor: Duration };
  readonly authFailures: {
    readonly upstream: { readonly count: number; readonly window: Duration; readonly for: Duration };
    readonly client: { readonly count: number; readonly window: Duration; readonly for: Duration };
  };
  readonly meterDown: { readonly for: Duration };
}

const DURATION = /^(\d+(ms|s|m|h|d|w|y))+$/;

/** Seconds in a Prometheus duration such as `1h30m`. */
export function durationSeconds(d: Duration): number {
  if (!DURATION.test(d)) throw new Error(`not a Prometheus duration: ${JSON.stringify(d)}`);
  const unit: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800, y: 31_536_000 };
  let total = 0;
  for (const m of d.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)) total += Number(m[1]) * unit[m[2]];
  return total;
}

/** Collects every problem in the file before failing, so one run lists them all. */
class Reader {
  readonly problems: string[] = [];

  constructor(private readonly doc: Record<string, unknown>) {}

  private at(path: string): unknown {
    let v: unknown = this.doc;
    for (const key of path.split('.')) {
      v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
    }
    return v;
  }

  number(path: string, min: number, max: number): number {
    const v = this.at(path);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      this.problems.push(`${path}: expected a number from ${min} to ${max}, got ${JSON.stringify(v)}`);
      return NaN;
    }
    return v;
  }

  ratio(path: string): number {
    return this.number(path, 0, 1);
  }

  duration(path: string): Duration {
    const v = this.at(path);
    if (typeof v !== 'string' || !DURATION.test(v)) {
      this.problems.push(`${path}: expected a Prometheus duration such as 5m, got ${JSON.stringify(v)}`);
      return '0s';
    }
    return v;
  }

  string(path: string, pattern: RegExp, expected: string): string {
    const v = this.at(path);
    if (typeof v !== 'string' || !pattern.test(v)) {
      this.problems.push(`${path}: expected ${expected}, got ${JSON.stringify(v)}`);
      return '';
    }
    return v;
  }
}

export function parseThresholds(text: string): Thresholds {
  const doc: unknown = parse(text);
  if (doc === null || typeof doc !== 'object') throw new Error('thresholds: expected a YAML mapping');
  const r = new Reader(doc as Record<string, unknown>);
  const t: Thresholds = {
    runbookBaseUrl: r.string('runbook_base_url', /^\S+\.md$/, 'the address of docs/runbook.md'),
    qpsSaturation: { ratio: r.number('qps_saturation.ratio', 0, 10), for: r.duration('qps_saturation.for') },
    throttling: {
      ratio: r.ratio('throttling.ratio'),
      window: r.duration('throttling.window'),
      for: r.duration('throttling.for'),
    },
    qpsPackageExpiry: { days: r.number('qps_package_expiry.days', 0, 366), for: r.duration('qps_package_expiry.for') },
    callPackageExhaustion: {
      days: r.number('call_package_exhaustion.days', 0, 366),
      for: r.duration('call_package_exhaustion.for'),
    },
    callPackageLow: { ratio: r.ratio('call_package_low.ratio'), for: r.duration('call_package_low.for') },
    freeCallsLow: {
      ratio: r.ratio('free_calls_low.ratio'),
      minDaysLeftInMonth: r.number('free_calls_low.min_days_left_in_month', 0, 31),
      for: r.duration('free_calls_low.for'),
    },
    errorRatio: {
      ratio: r.ratio('error_ratio.ratio'),
      codes: r.string('error_ratio.codes', /^[0-9.|]+$/, 'a regular expression of HTTP statuses such as 5..|429'),
      window: r.duration('error_ratio.window'),
      for: r.duration('error_ratio.for'),
    },
    errorAnomaly: {
      window: r.duration('error_anomaly.window'),
      factor: r.number('error_anomaly.factor', 1, 1000),
      minRatio: r.ratio('error_anomaly.min_ratio'),
      minRequests: r.number('error_anomaly.min_requests', 0, 1e12),
      for: r.duration('error_anomaly.for'),
    },
    latencyNearTimeout: { ratio: r.number('latency_near_timeout.ratio', 0, 10), for: r.duration('latency_near_timeout.for') },
    usageFlushStalled: { seconds: r.number('usage_flush_stalled.seconds', 1, 86_400), for: r.duration('usage_flush_stalled.for') },
    billingSyncStale: { hours: r.number('billing_sync_stale.hours', 1, 24 * 31), for: r.duration('billing_sync_stale.for') },
    reconciliation: {
      toleranceCalls: r.number('reconciliation.tolerance_calls', 0, 1e12),
      for: r.duration('reconciliation.for'),
    },
    budget: {
      thresholdFor: r.duration('budget.threshold_for'),
      forecastWindow: r.duration('budget.forecast_window'),
      forecastFor: r.duration('budget.forecast_for'),
    },
    authFailures: {
      upstream: {
        count: r.number('auth_failures.upstream.count', 0, 1e9),
        window: r.duration('auth_failures.upstream.window'),
        for: r.duration('auth_failures.upstream.for'),
      },
      client: {
        count: r.number('auth_failures.client.count', 0, 1e9),
        window: r.duration('auth_failures.client.window'),
        for: r.duration('auth_failures.client.for'),
      },
    },
    meterDown: { for: r.duration('meter_down.for') },
  };
  if (r.problems.length > 0) {
    throw new Error(`invalid thresholds:\n${r.problems.map((p) => `  - ${p}`).join('\n')}`);
  }
  return t;
}

export function loadThresholds(file = THRESHOLDS_FILE): Thresholds {
  return parseThresholds(readFileSync(file, 'utf8'));
}
