// `npm run bench`: a benchmark, not a test. In one run it sends the same fixed load of 200 KB
// base64 face_detect calls straight to the emulator and through frs-meter, and prints
// requests/s, p50/p99 for both and the latency the proxy adds; then it times the metering work
// the hot path does per request (usage buffer, metric children, QPS window) and the cost of budget
// admission (scripts/bench-budget.ts) in-process.
//
// BENCH_REQUESTS (default 3000) and BENCH_CONCURRENCY (default 16) set the load.

import { Pool } from 'undici';
import { chmodSync, mkdtempSync } from 'node:fs';
import { spawn, ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../src/config/config';
import { freePort } from '../src/database/embedded-postgres';
import { DEMO_CREDENTIALS, DEMO_IAM_USER } from '../src/emulator/emulator';
import { pathFor } from '../src/frs/operations';
import { MetricsService } from '../src/metrics/metrics.service';
import { UsageBuffer } from '../src/usage/usage.buffer';
import { ProxyMetrics } from '../src/proxy/proxy.metrics';
import { QpsTracker } from '../src/quota/qps-tracker';
import { budgetAdmissionCost } from './bench-budget';

const N = Number(process.env.BENCH_REQUESTS ?? 3000);
const C = Number(process.env.BENCH_CONCURRENCY ?? 16);
const PROJECT = 'bench000000000000000000000000001';
const BODY = JSON.stringify({ image_base64: Buffer.alloc(150 * 1024, 9).toString('base64') });

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function load(origin: string, urlPath: string, headers: Record<string, string>): Promise<{ rps: number; p50: number; p99: number; errors: number }> {
  const pool = new Pool(origin, { connections: C });
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  // Warm-up: connections, JIT, caches.
  await Promise.all(Array.from({ length: C * 2 }, () => pool.request({ method: 'POST', path: urlPath, headers, body: BODY }).then((r) => r.body.dump())));
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: C }, async () => {
      while (next++ < N) {
        const s = performance.now();
        const res = await pool.request({ method: 'POST', path: urlPath, headers, body: BODY });
        await res.body.dump();
        if (res.statusCode !== 200) errors++;
        latencies.push(performance.now() - s);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  return { rps: latencies.length / seconds, p50: pct(latencies, 50), p99: pct(latencies, 99), errors };
}

function meteringCost(): { perRequestUs: number } {
  const config = loadConfig({ FRS_ENDPOINT: 'http://127.0.0.1:1', HUAWEICLOUD_SDK_AK: 'a', HUAWEICLOUD_SDK_SK: 'b', FRS_METER_SECRET_KEY: '0123456789abcdef' });
  const metrics = new MetricsService(config);
  const m = new ProxyMetrics(metrics);
  const buffer = new UsageBuffer('Asia/Shanghai');
  const qps = new QpsTracker();
  const apps = ['app-a', 'app-b', 'app-c'];
  const ops = ['face_detect', 'face_compare', 'face_search'] as const;
  const iterations = 500_000;
  const run = (count: number) => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < count; i++) {
      const now = Date.now();
      const app = apps[i % 3];
      const op = ops[i % 3];
      // What one successful, billable request records: one attempt and one request.
      m.attempt(op, 'success', 0.08);
      m.billable(app, op);
      qps.record(op, now);
      buffer.recordAttempt(now, app, op, 200, 'none', 'success', true);
      m.request(app, op, 200, 'none', 'success', 0.081, 0.08, '3f2b8c1e-5d4a-4e7b-9c1f-2a6d8e0b4c7a');
      buffer.recordRequest(now, app, op, 200, 'none', 'success');
    }
    return Number(process.hrtime.bigint() - t0) / 1000 / count;
  };
  run(50_000);
  return { perRequestUs: run(iterations) };
}

/** Starts a child process and resolves with the first URL it prints on a line matching `pattern`. */
function spawnService(entry: string, env: Record<string, string>, pattern: RegExp): Promise<{ url: string; child: ChildProcess }> {
  return new Promise((resolve, reject) => {
    // BENCH_PROFILE_DIR=dir writes a CPU profile of each process there (open in Chrome DevTools).
    const profile = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];
    const child = spawn(process.execPath, [...profile, '-r', 'ts-node/register/transpile-only', entry], {
      cwd: path.resolve(__dirname, '..'),
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const onData = (c: Buffer) => {
      out += c.toString();
      const m = pattern.exec(out);
      if (m) resolve({ url: m[1], child });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) => reject(new Error(`${entry} exited with ${code}:\n${out}`)));
  });
}

async function main(): Promise<void> {
  // Emulator, service and load generator each get their own process, as in production; on one
  // event loop they would queue behind each other and the proxy's cost would be overstated.
  const emulator = await spawnService('src/emulator/main.ts', { EMULATOR_PORT: '0', EMULATOR_LATENCY_SCALE: '0', EMULATOR_QPS: JSON.stringify({ face_detect: 1_000_000 }) }, /listening on (http:\/\/[^\s]+)/);
  const dataDir = mkdtempSync(path.join(tmpdir(), 'frs-meter-bench-'));
  chmodSync(dataDir, 0o755); // as root the embedded server runs as `postgres`, which must reach it
  process.on('exit', () => emulator.child.kill('SIGKILL'));
  const service = await spawnService(
    'src/main.ts',
    {
      PORT: String(await freePort()),
      FRS_METER_HOST: '127.0.0.1',
      FRS_METER_DATA_DIR: dataDir,
      FRS_ENDPOINT: emulator.url,
      FRS_PROJECT_ID: PROJECT,
      HUAWEICLOUD_SDK_AK: DEMO_CREDENTIALS.ak,
      HUAWEICLOUD_SDK_SK: DEMO_CREDENTIALS.sk,
      FRS_METER_ADMIN_TOKEN: 'bench-admin-token',
      FRS_METER_SECRET_KEY: 'bench-secret-key-0000',
      FRS_METER_BILLING_SYNC: 'off',
      ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
    },
    /listening on (http:\/\/[^\s]+)/,
  );
  try {
    const tokenRes = await fetch(`${emulator.url}/v3/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ auth: { identity: { methods: ['password'], password: { user: { name: DEMO_IAM_USER.username, password: DEMO_IAM_USER.password, domain: { name: DEMO_IAM_USER.domainName } } } }, scope: { project: { id: PROJECT } } } }),
    });
    const token = tokenRes.headers.get('x-subject-token') ?? '';
    const created = await fetch(`${service.url}/admin/apps`, {
      method: 'POST',
      headers: { authorization: 'Bearer bench-admin-token', 'content-type': 'application/json' },
      body: JSON.stringify({ name: `bench-${Date.now()}` }),
    }).then((r) => r.json() as Promise<{ api_key: string }>);
    const p = pathFor('face_detect', PROJECT);
    console.log(`frs-meter bench: ${N} face_detect calls with a ${(BODY.length / 1024).toFixed(0)} KB base64 body, concurrency ${C}, emulator latency 0 (so the proxy's own cost shows); emulator, proxy and load generator in separate processes on ${os.cpus().length} cores\n`);
    const direct = await load(emulator.url, p, { 'x-auth-token': token, 'content-type': 'application/json' });
    const proxied = await load(service.url, p, { 'x-auth-token': created.api_key, 'content-type': 'application/json' });
    const row = (name: string, r: typeof direct) => console.log(`  ${name.padEnd(16)} ${r.rps.toFixed(0).padStart(7)} req/s   p50 ${r.p50.toFixed(2).padStart(7)} ms   p99 ${r.p99.toFixed(2).padStart(7)} ms   errors ${r.errors}`);
    row('direct', direct);
    row('through proxy', proxied);
    console.log(`  proxy adds       p50 ${(proxied.p50 - direct.p50).toFixed(2)} ms, p99 ${(proxied.p99 - direct.p99).toFixed(2)} ms (AK/SK re-signing of the body included)\n`);
    const cost = meteringCost();
    console.log(`  metering on the hot path: ${cost.perRequestUs.toFixed(2)} µs per request (usage buffer + metric children + QPS window; target ≤ 50 µs)`);
    const b = await budgetAdmissionCost();
    console.log(`  budget admission: ${b.callsUs.toFixed(2)} µs per call with a calls cap, ${b.amountUs.toFixed(2)} µs with a currency cap (drawdown engine's marginal cost + apply), from the lease held in memory, no database round trip (target < 20 µs)`);
  } finally {
    service.child.kill('SIGTERM');
    emulator.child.kill('SIGTERM');
    await new Promise((r) => service.child.once('exit', r));
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
