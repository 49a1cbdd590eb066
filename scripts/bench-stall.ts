// `npm run bench:stall`: a benchmark, not a test. Issue #4's stall scenario at real scale: the
// emulator answers face_detect with its modelled latency (median ≈ 80 ms, p99 ≈ 300 ms) and
// holds 2 % of calls for 3 s. The same load goes straight to the emulator (what a client without
// p99-based timeouts sees) and through frs-meter (timeout ≈ 2 × p99, one retry); it prints the
// timeout in force, client-seen p50/p95/p99/max, errors and retries for both.
//
// BENCH_STALL_REQUESTS (default 2000), BENCH_STALL_CONCURRENCY (default 16),
// BENCH_STALL_FRACTION (default 0.02) and BENCH_STALL_SECONDS (default 3) set the scenario.

import { Pool } from 'undici';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../src/config/config';
import { startService } from '../src/app';
import { DEMO_CREDENTIALS, startEmulator } from '../src/emulator/emulator';
import { pathFor } from '../src/frs/operations';
import { parseMetrics } from '../test/support/metrics';

const N = Number(process.env.BENCH_STALL_REQUESTS ?? 2000);
const C = Number(process.env.BENCH_STALL_CONCURRENCY ?? 16);
const FRACTION = Number(process.env.BENCH_STALL_FRACTION ?? 0.02);
const STALL_SECONDS = Number(process.env.BENCH_STALL_SECONDS ?? 3);
const WARM_UP = 300;
const PROJECT = 'bench000000000000000000000000001';
const ADMIN = 'bench-admin-token';
const BODY = JSON.stringify({ image_base64: Buffer.alloc(30 * 1024, 9).toString('base64') });

interface LoadResult {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  errors: number;
  /** Non-200 answers by status (0: no answer). */
  statuses: Record<number, number>;
  overOneSecond: number;
  seconds: number;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function load(origin: string, urlPath: string, headers: Record<string, string>, n: number): Promise<LoadResult> {
  const pool = new Pool(origin, { connections: C });
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  const statuses: Record<number, number> = {};
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: C }, async () => {
      while (next++ < n) {
        const s = performance.now();
        try {
          const res = await pool.request({ method: 'POST', path: urlPath, headers, body: BODY });
          await res.body.dump();
          if (res.statusCode !== 200) {
            errors++;
            statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
          }
        } catch {
          errors++;
          statuses[0] = (statuses[0] ?? 0) + 1;
        }
        latencies.push((performance.now() - s) / 1000);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  return { p50: pct(latencies, 50), p95: pct(latencies, 95), p99: pct(latencies, 99), max: latencies[latencies.length - 1], errors, statuses, overOneSecond: latencies.filter((l) => l >= 1).length, seconds };
}

async function attempts(url: string): Promise<Record<string, number>> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  const out: Record<string, number> = {};
  for (const s of parseMetrics(text)) {
    if (s.name === 'frs_upstream_attempts_total' && s.labels.operation === 'face_detect') out[s.labels.outcome] = s.value;
  }
  return out;
}

const ms = (s: number) => `${(s * 1000).toFixed(0).padStart(5)} ms`;

async function main(): Promise<void> {
  const emulator = await startEmulator({ credentials: [DEMO_CREDENTIALS], seed: 2024, log: () => undefined });
  emulator.setQps({ face_detect: 1_000_000 });
  const { token } = emulator.issueToken({ projectId: PROJECT });
  const dataDir = mkdtempSync(path.join(tmpdir(), 'frs-meter-bench-stall-'));
  // Run as root, the embedded Postgres runs as the postgres user, which must reach its data folder.
  chmodSync(dataDir, 0o755);
  const service = await startService({
    config: loadConfig({
      PORT: '0',
      FRS_METER_HOST: '127.0.0.1',
      FRS_METER_DATA_DIR: dataDir,
      FRS_ENDPOINT: emulator.url,
      FRS_PROJECT_ID: PROJECT,
      HUAWEICLOUD_SDK_AK: DEMO_CREDENTIALS.ak,
      HUAWEICLOUD_SDK_SK: DEMO_CREDENTIALS.sk,
      FRS_METER_ADMIN_TOKEN: ADMIN,
      FRS_METER_SECRET_KEY: 'bench-secret-key-0000',
      FRS_METER_BILLING_SYNC: 'off',
      ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
    }),
    logger: ['error'],
  });
  try {
    const app = await fetch(`${service.url}/admin/apps`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `bench-stall-${Date.now()}` }),
    }).then((r) => r.json() as Promise<{ api_key: string }>);
    const p = pathFor('face_detect', PROJECT);
    const viaProxy = { 'x-auth-token': app.api_key, 'content-type': 'application/json' };

    console.log(`frs-meter stall bench: ${N} face_detect calls, concurrency ${C}, emulator latency model (median 80 ms, p99 300 ms), ${(FRACTION * 100).toFixed(1)} % of calls stalled ${STALL_SECONDS} s\n`);
    await load(service.url, p, viaProxy, WARM_UP);
    const row = await fetch(`${service.url}/admin/timeouts`, { headers: { authorization: `Bearer ${ADMIN}` } })
      .then((r) => r.json() as Promise<{ operations: Array<Record<string, unknown>> }>)
      .then((b) => b.operations.find((o) => o.operation === 'face_detect') as Record<string, number | string>);
    console.log(`  after ${WARM_UP} warm-up calls: rolling p50 ${ms(row.p50_seconds as number)}, p99 ${ms(row.p99_seconds as number)}; timeout in force ${ms(row.timeout_seconds as number)} (${row.timeout_source}); recommended client timeout ${row.recommended_client_timeout_seconds} s\n`);

    emulator.setFaults({ stalls: { face_detect: { fraction: FRACTION, seconds: STALL_SECONDS } } });
    const direct = await load(emulator.url, p, { 'x-auth-token': token, 'content-type': 'application/json' }, N);
    const before = await attempts(service.url);
    const proxied = await load(service.url, p, viaProxy, N);
    const after = await attempts(service.url);
    const delta = (o: string) => (after[o] ?? 0) - (before[o] ?? 0);
    const total = Object.keys(after).reduce((n, o) => n + delta(o), 0);

    const line = (name: string, r: LoadResult) =>
      console.log(`  ${name.padEnd(14)} p50 ${ms(r.p50)}   p95 ${ms(r.p95)}   p99 ${ms(r.p99)}   max ${ms(r.max)}   ≥1 s ${String(r.overOneSecond).padStart(4)}   errors ${r.errors}${r.errors ? ` ${JSON.stringify(r.statuses)}` : ''}   (${(N / r.seconds).toFixed(0)} req/s)`);
    line('direct', direct);
    line('through proxy', proxied);
    console.log(`\n  proxy upstream attempts: ${total} for ${N} requests — ${delta('timeout')} cut at the timeout, ${total - N} retries (${((100 * (total - N)) / N).toFixed(1)} %)`);
    const end = await fetch(`${service.url}/admin/timeouts`, { headers: { authorization: `Bearer ${ADMIN}` } })
      .then((r) => r.json() as Promise<{ operations: Array<Record<string, unknown>> }>)
      .then((b) => b.operations.find((o) => o.operation === 'face_detect') as Record<string, number | string>);
    console.log(`  timeout in force at the end: ${ms(end.timeout_seconds as number)} (${end.timeout_source}, rolling p99 ${ms(end.p99_seconds as number)} over ${end.samples} completed attempts)`);
  } finally {
    emulator.setFaults({ stalls: {} });
    await service.close();
    await emulator.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
