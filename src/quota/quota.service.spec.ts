import { loadConfig } from '../config/config';
import { ManualClock } from '../common/clock';
import { MetricsService } from '../metrics/metrics.service';
import { QuotaService } from './quota.service';
import { QpsCoordinator } from './qps-coordination';
import { QpsPackage, QpsPackagesRepository } from '../drawdown/qps-packages.repository';

const ENV = { FRS_ENDPOINT: 'http://127.0.0.1:1', HUAWEICLOUD_SDK_AK: 'ak', HUAWEICLOUD_SDK_SK: 'sk', FRS_METER_SECRET_KEY: '0123456789abcdef' };

/** Stands in for the database: the service only reads the current packages from it. */
class MemoryQpsPackages {
  packages: QpsPackage[] = [];
  async current(): Promise<QpsPackage[]> {
    return this.packages;
  }
}

function gauge(text: string, name: string, operation: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{operation="${operation}"}`));
  if (!line) throw new Error(`${name}{operation="${operation}"} not exposed`);
  return Number(line.split(' ').pop());
}

async function setup(env: Record<string, string> = {}) {
  const config = loadConfig({ ...ENV, ...env });
  const clock = new ManualClock('2026-03-10T08:00:00.000Z', { frozen: true });
  const metrics = new MetricsService(config);
  const repo = new MemoryQpsPackages();
  const quota = new QuotaService(config, clock, metrics, repo as unknown as QpsPackagesRepository, new QpsCoordinator(config, undefined as never, metrics));
  await quota.refresh();
  return { config, clock, metrics, repo, quota };
}

describe('QuotaService', () => {
  it('8 calls/s sustained against the default quota of 10: peak 8, saturation 0.8', async () => {
    const { clock, metrics, quota } = await setup();
    for (let s = 0; s < 70; s++) {
      for (let i = 0; i < 8; i++) {
        quota.recordAttempt('face_detect', clock.now());
        clock.advance(125);
      }
    }
    const text = (await metrics.scrape()).body;
    expect(gauge(text, 'frs_qps_quota', 'face_detect')).toBe(10);
    expect(gauge(text, 'frs_qps_peak', 'face_detect')).toBe(8);
    expect(gauge(text, 'frs_qps_saturation_ratio', 'face_detect')).toBe(0.8);
    expect(gauge(text, 'frs_qps_quota', 'live_detect')).toBe(1);
    expect(gauge(text, 'frs_qps_peak', 'face_compare')).toBe(0);
  });

  it('finding 10: counts the peak over sliding 1-second windows, as FRS limits them', async () => {
    const { clock, quota } = await setup();
    const t = Math.ceil(clock.now() / 1000) * 1000;
    // 10 calls at x.95 s and 10 at x+1.05 s: no wall-clock second holds more than 10, but the
    // window (x.05, x+1.05] holds all 20.
    clock.set(t + 950);
    for (let i = 0; i < 10; i++) quota.recordAttempt('face_compare', clock.now());
    clock.set(t + 1050);
    for (let i = 0; i < 10; i++) quota.recordAttempt('face_compare', clock.now());
    expect((await quota.list()).find((q) => q.operation === 'face_compare')?.peak_qps).toBe(20);
  });

  it('says which calls are over the QPS package rate in their sliding second', async () => {
    const { clock, repo, quota } = await setup();
    const t = clock.now();
    repo.packages = [{ id: 1, operation: 'face_detect', qps: 3, startsAt: t - 60_000, expiresAt: t + 3_600_000, createdAt: t - 60_000 }];
    await quota.refresh();
    // 5 calls 100 ms apart: the 4th and 5th are the 4th and 5th in their second (3 allowed).
    const over: boolean[] = [];
    for (let i = 0; i < 5; i++) {
      over.push(quota.recordAttempt('face_detect', clock.now()));
      clock.advance(100);
    }
    expect(over).toEqual([false, false, false, true, true]);
    clock.set(t + 1_250);
    // In (t+0.25, t+1.25]: the calls at t+0.3, t+0.4 and this one = 3: covered again.
    expect(quota.recordAttempt('face_detect', clock.now())).toBe(false);
  });

  it('forgets a burst after 60 seconds', async () => {
    const { clock, quota } = await setup();
    for (let i = 0; i < 25; i++) quota.recordAttempt('face_search', clock.now());
    clock.advance(59_000);
    quota.recordAttempt('face_search', clock.now());
    const peakNow = (await quota.list()).find((q) => q.operation === 'face_search')?.peak_qps;
    clock.advance(1_000);
    const peakLater = (await quota.list()).find((q) => q.operation === 'face_search')?.peak_qps;
    expect([peakNow, peakLater]).toEqual([25, 1]);
  });

  it('uses the QPS package only inside its validity window, then falls back to the default', async () => {
    const { clock, metrics, repo, quota } = await setup();
    const t = clock.now();
    repo.packages = [{ id: 1, operation: 'face_detect', qps: 50, startsAt: t + 60_000, expiresAt: t + 3_600_000, createdAt: t }];
    await quota.refresh();
    expect(quota.quotaFor('face_detect', t)).toBe(10);
    expect(quota.quotaFor('face_detect', t + 60_000)).toBe(50);
    expect(quota.quotaFor('face_detect', t + 3_600_000 - 1)).toBe(50);
    expect(quota.quotaFor('face_detect', t + 3_600_000)).toBe(10);
    const text = (await metrics.scrape()).body;
    expect(gauge(text, 'frs_qps_package_expiry_timestamp_seconds', 'face_detect')).toBe((t + 3_600_000) / 1000);
    expect(gauge(text, 'frs_qps_package_expiry_timestamp_seconds', 'face_compare')).toBe(0);
  });

  it('admits synchronously when shaping is off, and shapes bursts to the quota when on', async () => {
    const off = await setup();
    for (let i = 0; i < 50; i++) expect(off.quota.admit('live_detect')).toBe(true);

    const on = await setup({ FRS_METER_QPS_SHAPING: 'on', FRS_METER_QPS_SHAPING_MAX_WAIT_MS: '0' });
    const answers = await Promise.all(Array.from({ length: 3 }, () => on.quota.admit('live_detect')));
    expect(answers).toEqual([true, false, false]);
    expect((await on.metrics.scrape()).body).toContain('frs_qps_shaped_total{operation="live_detect",result="rejected"} 2');
  });
});
