// The demo's later chapters: packages registered before the traffic, and after it the free
// calls left, package state, a billing sync against the emulator and the reconciliation.

import { request } from 'undici';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { RunningService } from '../src/app';
import type { EmulatorOptions } from '../src/emulator/emulator';
import { bssPlugin } from '../src/emulator/bss/bss-plugin';
import { formatReconciliation } from '../src/billing/reconciliation-format';
import { billingMonthOf } from '../src/common/billing-month';
import type { ReconciliationReport } from '../src/billing/reconciliation';

/** Made-up example prices (config/prices.example.json), used on both sides so amounts show. */
const PRICES_FILE = path.resolve(__dirname, '..', 'config', 'prices.example.json');
const CALL_PACKAGE = 'demo-search-pack';
const STARTED = Date.now();

async function admin(base: string, token: string, method: string, p: string, body?: unknown) {
  const res = await request(`${base}${p}`, {
    method: method as 'GET',
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, json: json as Record<string, unknown>, text };
}

const DAY = 86_400_000;

export const demoExtras = {
  /** The emulator plays Huawei's billing too: the same prices and the call package the customer bought. */
  emulatorOptions(): EmulatorOptions {
    const bss = bssPlugin({
      prices: JSON.parse(readFileSync(PRICES_FILE, 'utf8')),
      packages: [
        {
          orderInstanceId: CALL_PACKAGE,
          freeResourceId: `${CALL_PACKAGE}-item`,
          productName: 'FRS search + compare 100,000 calls (demo)',
          operations: ['face_search', 'face_compare'],
          totalCalls: 100_000,
          effectiveTime: new Date(STARTED - 60_000).toISOString(),
          expireTime: new Date(STARTED + 365 * DAY).toISOString(),
        },
      ],
    });
    return { plugins: [bss] };
  },

  serviceEnv(): Record<string, string> {
    return { FRS_METER_PRICE_TABLE_FILE: PRICES_FILE };
  },

  /** A QPS package for face_detect and a call package for search + compare, as a customer might have bought. */
  async setup(base: string, token: string): Promise<void> {
    const now = Date.now();
    await admin(base, token, 'PUT', '/admin/qps-packages/face_detect', { qps: 20, starts_at: new Date(now - DAY).toISOString(), expires_at: new Date(now + 25 * DAY).toISOString() });
    const existing = await admin(base, token, 'GET', '/admin/call-packages');
    const have = ((existing.json?.call_packages as Array<{ id: string }>) ?? []).some((p) => p.id === CALL_PACKAGE);
    if (!have) {
      await admin(base, token, 'POST', '/admin/call-packages', {
        id: CALL_PACKAGE,
        operations: ['face_search', 'face_compare'],
        total_calls: 100_000,
        used_calls: 0,
        starts_at: new Date(STARTED - 60_000).toISOString(),
        expires_at: new Date(STARTED + 365 * DAY).toISOString(),
      });
    }
  },

  async summary(base: string, token: string, _service: RunningService): Promise<void> {
    // Let the last usage flush land (every second) before reading the month back.
    await new Promise((r) => setTimeout(r, 1_500));
    const usage = await admin(base, token, 'GET', '/admin/usage');
    if (usage.status === 200) {
      const u = usage.json as { month: string; free_tier?: { scope: string; calls: number; excluded: string[] }; operations: Array<{ operation: string; billable: boolean; requests: number; upstream_attempts: number; billable_calls: number; free_calls_left: number; attribution: { qps_package: number; call_package: number; free_tier: number; pay_per_use: number } | null }> };
      console.log(`This billing month (${u.month}), from GET /admin/usage — all replicas, survives restarts:`);
      console.log(`  ${'operation'.padEnd(18)} ${'requests'.padStart(8)} ${'attempts'.padStart(8)} ${'billable'.padStart(8)} ${'free left'.padStart(9)}   qps-pkg call-pkg  free  pay-per-use`);
      for (const o of u.operations.filter((x) => x.billable && x.requests > 0)) {
        const a = o.attribution;
        console.log(
          `  ${o.operation.padEnd(18)} ${String(o.requests).padStart(8)} ${String(o.upstream_attempts).padStart(8)} ${String(o.billable_calls).padStart(8)} ${String(o.free_calls_left).padStart(9)}   ${String(a?.qps_package ?? '-').padStart(7)} ${String(a?.call_package ?? '-').padStart(8)} ${String(a?.free_tier ?? '-').padStart(5)} ${String(a?.pay_per_use ?? '-').padStart(12)}`,
        );
      }
      // Free calls left is what the drawdown engine spent: calls a package paid for use none.
      if (u.free_tier) console.log(`  free calls: ${u.free_tier.calls} a month, scope ${u.free_tier.scope} (free left is shared by the operations of one scope), excluded ${u.free_tier.excluded.join(', ') || 'none'}`);
      console.log('');
    }
    const qps = await admin(base, token, 'GET', '/admin/qps-packages');
    const list = (qps.json?.qps_packages as Array<{ operation: string; quota: number; peak_qps: number; saturation: number; package: { qps: number; expires_at: string } | null }>) ?? [];
    const withPkg = list.filter((q) => q.package);
    if (withPkg.length > 0) {
      console.log('QPS packages:');
      for (const q of withPkg) console.log(`  ${q.operation.padEnd(18)} ${q.package!.qps} QPS until ${q.package!.expires_at}; peak ${q.peak_qps} in the last 60 s, saturation ${(q.saturation * 100).toFixed(0)} %`);
      console.log('');
    }
    const calls = await admin(base, token, 'GET', '/admin/call-packages');
    const pkgs = (calls.json?.call_packages as Array<{ id: string; total_calls: number; remaining_calls: number; status: string; exhaustion_forecast: string | null; expires_at: string }>) ?? [];
    if (pkgs.length > 0) {
      console.log('Call packages:');
      for (const p of pkgs) console.log(`  ${p.id.padEnd(18)} ${p.remaining_calls} of ${p.total_calls} left (${p.status}); runs out ${p.exhaustion_forecast ?? 'not before it expires'}; expires ${p.expires_at}`);
      console.log('');
    }
  },

  /** Pulls this month's bill from the (emulated) BSS API and prints the reconciliation. */
  async billing(base: string, token: string): Promise<void> {
    const month = billingMonthOf(Date.now(), 'Asia/Shanghai');
    const sync = await admin(base, token, 'POST', '/admin/billing/sync', { month });
    if (sync.status !== 200 && sync.status !== 201) {
      console.log(`Billing sync failed: HTTP ${sync.status} ${sync.text}\n`);
      return;
    }
    const rec = await admin(base, token, 'GET', `/admin/reconciliation/${month}`);
    if (rec.status !== 200) {
      console.log(`Reconciliation unavailable: HTTP ${rec.status} ${rec.text}\n`);
      return;
    }
    console.log(`Billing sync of ${month} from the BSS API, then GET /admin/reconciliation/${month}:\n`);
    console.log(formatReconciliation(rec.json as unknown as ReconciliationReport));
    console.log('');
  },
};
