// QPS: per-operation quotas (the QPS package in force, else FRS's default), the 1-second peaks
// behind frs_qps_peak / frs_qps_saturation_ratio, and optional shaping. The proxy calls
// recordAttempt, admit and quotaFor on every request, so those read memory only: packages are
// cached and refreshed from the database every few seconds and at once after an admin change
// in this replica.

import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { CONFIG, Config } from '../config/config';
import { Clock } from '../common/clock';
import { MetricsService } from '../metrics/metrics.service';
import { KNOWN_OPERATIONS, OPERATION_BY_NAME, OPERATIONS, OperationName } from '../frs/operations';
import { notFound } from '../admin/meter-error';
import { QpsTracker } from './qps-tracker';
import { QpsShaper, REFUSED } from './qps-shaper';
import { QpsPackage, QpsPackagesRepository } from '../drawdown/qps-packages.repository';
import { QpsPackageInput } from './quota.dto';
import { QpsCoordinator } from './qps-coordination';

/** How often another replica's package changes reach this one. */
export const PACKAGE_REFRESH_MS = 5_000;

export type QpsPackageStatus = 'scheduled' | 'active' | 'expired';

export interface QpsPackageView {
  readonly operation: OperationName;
  readonly qps: number;
  readonly starts_at: string;
  readonly expires_at: string;
  readonly registered_at: string;
  readonly status: QpsPackageStatus;
}

export interface QpsQuotaView {
  readonly operation: OperationName;
  readonly default_qps: number;
  readonly quota: number;
  readonly peak_qps: number;
  readonly saturation: number;
  readonly package: QpsPackageView | null;
  /** A package registered to start later (a renewal): the one above stays in force until it starts. */
  readonly scheduled: QpsPackageView | null;
}

@Injectable()
export class QuotaService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Quota');
  private readonly tracker = new QpsTracker();
  private readonly shaper: QpsShaper;
  private readonly shaping: boolean;
  /** Per operation, packages not yet ended (in force, scheduled, or expired but not replaced), earliest start first. */
  private current: Partial<Record<OperationName, QpsPackage[]>> = {};
  /** Counter children looked up once, so a shaped call costs an increment, not a label hash. */
  private readonly shapedDelayed = {} as Record<OperationName, { inc(n?: number): void }>;
  private readonly shapedRejected = {} as Record<OperationName, { inc(n?: number): void }>;
  private readonly shapedPassed = {} as Record<OperationName, { inc(n?: number): void }>;
  /** Longest wait for a slot: FRS_METER_QPS_OVERFLOW=wait waits, pass and reject decide at once. */
  private readonly maxWaitMs: number;
  private timer?: NodeJS.Timeout;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly clock: Clock,
    private readonly metrics: MetricsService,
    private readonly repo: QpsPackagesRepository,
    private readonly coordinator: QpsCoordinator,
  ) {
    this.shaping = config.qps.shaping;
    this.maxWaitMs = config.qps.overflow === 'wait' ? config.qps.shapingMaxWaitMs : 0;
    this.shaper = new QpsShaper(1000 + config.qps.shapingMarginMs, config.qps.shapingMaxWaitMs);
    for (const op of OPERATIONS) {
      this.shapedDelayed[op.name] = metrics.qpsShaped.labels(op.name, 'delayed');
      this.shapedRejected[op.name] = metrics.qpsShaped.labels(op.name, 'rejected');
      this.shapedPassed[op.name] = metrics.qpsShaped.labels(op.name, 'passed');
      // Pre-created at 0 for catalogue operations; `unknown` appears only if it is ever shaped.
      if (op.name !== 'unknown') {
        this.shapedDelayed[op.name].inc(0);
        this.shapedRejected[op.name].inc(0);
        this.shapedPassed[op.name].inc(0);
      }
    }
    metrics.onCollect(() => this.collect());
  }

  async onModuleInit(): Promise<void> {
    await this.refresh().catch((err) => this.logger.warn(`could not read QPS packages, using FRS defaults until the next try: ${String(err)}`));
    // On failure the cached packages stay in force; the next refresh tries again.
    this.timer = setInterval(() => void this.refresh().catch(() => undefined), PACKAGE_REFRESH_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /**
   * Hot path: one upstream attempt of `operation` at `nowMs`. Returns true when a QPS package is in
   * force and this attempt is over its rate in the sliding second ending now (FRS bills such a
   * call on demand if it does not throttle it): the drawdown then does not give it to the package.
   */
  recordAttempt(operation: OperationName, nowMs: number): boolean {
    const inWindow = this.tracker.record(operation, nowMs);
    const p = this.inForce(operation, nowMs);
    return p !== undefined && inWindow > p.qps;
  }

  /**
   * Hot path, before each upstream attempt: true at once when shaping is off or there is room.
   * Over the rate, FRS_METER_QPS_OVERFLOW decides: `wait` resolves true when a slot comes within
   * FRS_METER_QPS_SHAPING_MAX_WAIT_MS, `pass` lets the call go now (billed on demand), `reject`
   * and a wait that would be too long resolve false (answer 429 METER.0429, do not call FRS).
   * The slot comes from the shared Redis window (redis coordination), else from this replica's
   * share of the quota (FRS_METER_QPS_COORDINATION, QpsCoordinator).
   */
  admit(operation: OperationName): Promise<boolean> | true {
    if (!this.shaping) return true;
    const quota = this.quotaFor(operation, this.clock.now());
    if (this.coordinator.usesRedis) {
      const shared = this.coordinator.reserveShared(operation, quota, this.maxWaitMs);
      if (shared) return shared.then((wait) => this.overflow(operation, wait), () => this.overflow(operation, this.reserveFallback(operation, quota)));
      return this.overflow(operation, this.reserveFallback(operation, quota));
    }
    return this.overflow(operation, this.shaper.reserve(operation, this.coordinator.share(quota), this.maxWaitMs));
  }

  private reserveFallback(operation: OperationName, quota: number): number {
    this.coordinator.fallback(operation);
    return this.shaper.reserve(operation, this.coordinator.share(quota), this.maxWaitMs);
  }

  /** Turns a reservation into the admission answer, counting each overflow choice. */
  private overflow(operation: OperationName, wait: number): Promise<boolean> | true {
    if (wait === 0) return true;
    if (wait === REFUSED) {
      if (this.config.qps.overflow === 'pass') {
        this.shapedPassed[operation].inc();
        return true;
      }
      this.shapedRejected[operation].inc();
      return Promise.resolve(false);
    }
    this.shapedDelayed[operation].inc();
    return new Promise((resolve) => setTimeout(() => resolve(true), Math.ceil(wait)));
  }

  /** Hot path: the QPS package in force at `nowMs`, else FRS's default for the operation. */
  quotaFor(operation: OperationName, nowMs: number): number {
    return this.inForce(operation, nowMs)?.qps ?? OPERATION_BY_NAME[operation].defaultQps;
  }

  /** The package covering `nowMs`: started, not expired, not replaced yet (a renewal registered for later leaves it in force). */
  private inForce(operation: OperationName, nowMs: number): QpsPackage | undefined {
    const list = this.current[operation];
    if (list === undefined) return undefined;
    for (const p of list) if (nowMs >= p.startsAt && nowMs < Math.min(p.expiresAt, p.replacedAt ?? Infinity)) return p;
    return undefined;
  }

  /** The next package to come into force after `nowMs`, if one is registered. */
  private scheduled(operation: OperationName, nowMs: number): QpsPackage | undefined {
    return this.current[operation]?.find((p) => p.startsAt > nowMs && p.startsAt < Math.min(p.expiresAt, p.replacedAt ?? Infinity));
  }

  /** When QPS coverage ends: the package in force, then every renewal that starts by the time the previous one ends. */
  private coverageEnd(operation: OperationName, nowMs: number): number | undefined {
    let p = this.inForce(operation, nowMs);
    if (!p) return undefined;
    let end = Math.min(p.expiresAt, p.replacedAt ?? Infinity);
    for (;;) {
      const next = this.current[operation]?.find((q) => q !== p && q.startsAt <= end && q.startsAt > (p as QpsPackage).startsAt && Math.min(q.expiresAt, q.replacedAt ?? Infinity) > end);
      if (!next) return end;
      p = next;
      end = Math.min(next.expiresAt, next.replacedAt ?? Infinity);
    }
  }

  async refresh(): Promise<void> {
    const next: Partial<Record<OperationName, QpsPackage[]>> = {};
    for (const p of await this.repo.current(this.clock.now())) (next[p.operation] ??= []).push(p);
    for (const list of Object.values(next)) list.sort((a, b) => a.startsAt - b.startsAt);
    this.current = next;
  }

  /**
   * `PUT /admin/qps-packages/{operation}`: registers a package. One that starts now replaces the
   * one in force at once; one that starts later (a renewal) leaves it in force until then.
   */
  async putPackage(operation: OperationName, input: QpsPackageInput): Promise<{ package: QpsPackageView; replaced: QpsPackageView | null }> {
    const now = this.clock.now();
    const { created, replaced } = await this.repo.replace({ operation, ...input }, now);
    await this.refresh();
    return { package: this.view(created, now), replaced: replaced ? this.view(replaced, now) : null };
  }

  /** `DELETE /admin/qps-packages/{operation}`: ends the current package now. */
  async endPackage(operation: OperationName): Promise<{ ended: QpsPackageView }> {
    const now = this.clock.now();
    const ended = await this.repo.end(operation, now);
    await this.refresh();
    if (!ended) throw notFound(`no QPS package registered for ${operation}`);
    return { ended: this.view(ended, now) };
  }

  /** Per-second peaks of an operation's upstream attempts in [fromS, toS] (see QpsTracker.secondMaxima). */
  secondPeaks(operation: OperationName, fromS: number, toS: number): Map<number, number> {
    return this.tracker.secondMaxima(operation, fromS, toS);
  }

  /** `GET /admin/qps-packages`: every operation with its quota in force, peak and package. */
  async list(): Promise<QpsQuotaView[]> {
    await this.refresh();
    const now = this.clock.now();
    return KNOWN_OPERATIONS.map((o) => {
      const quota = this.quotaFor(o.name, now);
      const peak = this.tracker.peak(o.name, now);
      const p = this.inForce(o.name, now) ?? this.current[o.name]?.filter((x) => x.startsAt <= now).pop();
      const next = this.scheduled(o.name, now);
      return {
        operation: o.name,
        default_qps: o.defaultQps,
        quota,
        peak_qps: peak,
        saturation: peak / quota,
        package: p ? this.view(p, now) : null,
        scheduled: next ? this.view(next, now) : null,
      };
    });
  }

  private view(p: QpsPackage, now: number): QpsPackageView {
    const end = Math.min(p.expiresAt, p.replacedAt ?? Infinity);
    const status: QpsPackageStatus = now < p.startsAt ? 'scheduled' : now < end ? 'active' : 'expired';
    return {
      operation: p.operation,
      qps: p.qps,
      starts_at: new Date(p.startsAt).toISOString(),
      expires_at: new Date(p.expiresAt).toISOString(),
      registered_at: new Date(p.createdAt).toISOString(),
      status,
    };
  }

  private collect(): void {
    const now = this.clock.now();
    const m = this.metrics;
    for (const o of KNOWN_OPERATIONS) {
      const quota = this.quotaFor(o.name, now);
      const peak = this.tracker.peak(o.name, now);
      m.qpsQuota.set({ operation: o.name }, quota);
      m.qpsReplicaShare.set({ operation: o.name }, this.coordinator.share(quota));
      m.qpsPeak.set({ operation: o.name }, peak);
      m.qpsSaturation.set({ operation: o.name }, peak / quota);
      // When coverage ends, renewals registered ahead included; 0 = no package; an expired one
      // keeps its (past) expiry until it is replaced or ended.
      const last = this.current[o.name]?.filter((x) => x.startsAt <= now).pop() ?? this.current[o.name]?.[0];
      m.qpsPackageExpiry.set({ operation: o.name }, (this.coverageEnd(o.name, now) ?? last?.expiresAt ?? 0) / 1000);
    }
  }
}
