// `npm run bench`: a benchmark, not a test. In ONE run, on the same upstream and load, side by
// side: the upstream called directly, nginx as a reverse proxy (1 worker; when `nginx` is on the
// PATH), a bare node:http + undici forwarder (scripts/bare-forwarder.js, the runtime's floor), a
// node:http server that only reads the body and answers (scripts/node-sink.js, Node's receive cost),
// and frs-meter — built with `npm run build`, started with `npm run start:prod` — once per
// upstream signing mode (UNSIGNED-PAYLOAD, the default, and FRS_METER_SIGN_BODY=on). Load:
// 200 KB base64 face_detect POSTs from `wrk` (one thread) when installed, else autocannon, at
// concurrency 1, 16 and 64. Printed per target and concurrency: req/s, p50/p99, the latency
// added over direct, CPU seconds per 1,000 requests of the proxy process (utime + stime from
// /proc/<pid>/stat, all threads, GC helpers included), peak RSS during the measurement (VmHWM,
// reset before each; the peak since start is printed below the table), and the ratios to
// nginx and to the bare-Node floor. Then the metering work per request and the cost of budget
// admission (scripts/bench-budget.ts), timed in-process.
//
// The upstream is an nginx returning a fixed small JSON (so its own cost is tiny and the same
// for all); without nginx it is the bundled emulator with latency 0.
//
// BENCH_DURATION (seconds per measurement, default 8), BENCH_CONCURRENCY (default "1,16,64"),
// BENCH_TARGETS (subset of nginx, bare, sink, meter, meter-signed, e.g. "bare,meter"), BENCH_PROFILE_DIR (CPU profiles of frs-meter via
// --cpu-prof, written when it stops), BENCH_METER_NODE_FLAGS (node flags for frs-meter instead of
// start:prod's), BENCH_METER_VARIANTS (more frs-meter rows, one per "|"-separated set of node
// flags), DATABASE_URL (else each frs-meter runs embedded Postgres).

import { execFileSync, spawn, spawnSync, ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../src/config/config';
import { freePort } from '../src/database/embedded-postgres';
import { DEMO_CREDENTIALS } from '../src/emulator/emulator';
import { pathFor } from '../src/frs/operations';
import { MetricsService } from '../src/metrics/metrics.service';
import { UsageBuffer } from '../src/usage/usage.buffer';
import { ProxyMetrics } from '../src/proxy/proxy.metrics';
import { QpsTracker } from '../src/quota/qps-tracker';
import { budgetAdmissionCost } from './bench-budget';
import { accountingBench, printAccounting } from './bench-accounting';
import { printProfile, summarizeProfile } from './bench-profile';

const ROOT = path.resolve(__dirname, '..');
const DURATION = Number(process.env.BENCH_DURATION ?? 8);
const LEVELS = (process.env.BENCH_CONCURRENCY ?? '1,16,64').split(',').map(Number);
const ONLY = process.env.BENCH_TARGETS?.split(',');
const PROJECT = 'bench000000000000000000000000001';
const BODY = JSON.stringify({ image_base64: Buffer.alloc(150 * 1024, 9).toString('base64') });
const UPSTREAM_JSON = '{"faces":[{"bounding_box":{"top_left_x":66,"top_left_y":312,"width":302,"height":384}}]}';
const TICK = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim() || 100);
const work = mkdtempSync(path.join(os.tmpdir(), 'frs-meter-bench-'));
chmodSync(work, 0o755); // as root the embedded Postgres runs as `postgres`, which must reach it
const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

function onPath(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/local/sbin'])) {
    const p = path.join(dir, cmd);
    if (existsSync(p)) return p;
  }
  return undefined;
}

interface Started {
  readonly url: string;
  /** Processes whose CPU and memory are the target's (nginx: master and workers). */
  pids(): number[];
  stop(): Promise<void>;
}

/** Starts a process and resolves when a line of its output matches `ready` (group 1: the URL, when given). */
function start(cmd: string, args: string[], env: Record<string, string>, ready: RegExp, url?: string): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${cmd} ${args.join(' ')} did not get ready in 120 s:\n${out}`)), 120_000);
    const onData = (c: Buffer) => {
      out += c.toString();
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: url ?? m[1] });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited with ${code}:\n${out}`));
    });
  });
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => {
      clearTimeout(t);
      r();
    });
    child.kill(signal);
  });
}

function descendants(pid: number): number[] {
  const all: Array<{ pid: number; ppid: number }> = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      all.push({ pid: Number(d), ppid });
    } catch {
      /* gone */
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of all) {
      if (c.ppid !== p) continue;
      out.push(c.pid);
      walk(c.pid);
    }
  };
  walk(pid);
  return out;
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** utime + stime of the processes, in seconds (all their threads). */
function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]); // fields 14 and 15 of proc(5)
    } catch {
      /* gone */
    }
  }
  return ticks / TICK;
}

/** Peak resident set (VmHWM) summed over the processes, in MB. */
/**
 * Starts a new peak: writing 5 to /proc/<pid>/clear_refs resets VmHWM to the current RSS (Linux),
 * so the peak read after a measurement is that measurement's, not start-up's or JIT warm-up's.
 * Returns false where the kernel refuses (then the peak is since start).
 */
function resetPeakRss(pids: number[]): boolean {
  let ok = true;
  for (const pid of pids) {
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
    } catch {
      ok = false;
    }
  }
  return ok;
}

function peakRssMb(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      /* gone */
    }
  }
  return kb / 1024;
}

/** Resolves once something accepts TCP connections on the port. */
async function waitForPort(port: number, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), r(true)));
      s.once('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not listen on ${port}`);
}

/** An nginx with one worker and a temporary config, run in the foreground on a free loopback port. */
async function nginx(name: string, server: (port: number) => string): Promise<Started> {
  const bin = onPath('nginx')!;
  const dir = path.join(work, name);
  mkdirSync(path.join(dir, 'logs'), { recursive: true });
  const port = await freePort();
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  writeFileSync(
    path.join(dir, 'nginx.conf'),
    `${user}worker_processes 1;\nerror_log ${dir}/logs/error.log warn;\npid ${dir}/nginx.pid;\nevents { worker_connections 4096; }\nhttp {\n` +
      `  access_log off;\n  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;\n` +
      `  keepalive_requests 1000000; keepalive_timeout 300s; client_max_body_size 16m; client_body_buffer_size 1m;\n${server(port)}\n}\n`,
  );
  const child = spawn(bin, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'inherit', 'inherit'] });
  children.push(child);
  await waitForPort(port, `nginx ${name}`);
  return { url: `http://127.0.0.1:${port}`, pids: () => [child.pid!, ...descendants(child.pid!)], stop: () => stopChild(child, 'SIGQUIT') };
}

async function bareForwarder(upstream: string): Promise<Started> {
  const { child, url } = await start(process.execPath, ['scripts/bare-forwarder.js'], { UPSTREAM: upstream, PORT: '0' }, /listening on (http:\/\/[^\s]+)/);
  return { url, pids: () => [child.pid!], stop: () => stopChild(child) };
}

async function nodeSink(): Promise<Started> {
  const { child, url } = await start(process.execPath, ['scripts/node-sink.js'], { PORT: '0' }, /listening on (http:\/\/[^\s]+)/);
  return { url, pids: () => [child.pid!], stop: () => stopChild(child) };
}

async function emulatorUpstream(): Promise<Started> {
  const { child, url } = await start(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', 'src/emulator/main.ts'],
    { EMULATOR_PORT: '0', EMULATOR_LATENCY_SCALE: '0', EMULATOR_QPS: JSON.stringify({ face_detect: 1_000_000 }) },
    /listening on (http:\/\/[^\s]+)/,
  );
  return { url, pids: () => [child.pid!], stop: () => stopChild(child) };
}

/** frs-meter as deployed: `npm run start:prod` (node dist/src/main.js); measured is the node process under npm. */
async function meter(upstream: string, env: Record<string, string>, flagsOverride = process.env.BENCH_METER_NODE_FLAGS): Promise<Started & { apiKey: string }> {
  const dataDir = mkdtempSync(path.join(work, 'meter-'));
  chmodSync(dataDir, 0o755);
  // --cpu-prof is refused in NODE_OPTIONS: profiling runs start:prod's command line directly.
  const profileDir = process.env.BENCH_PROFILE_DIR ? path.resolve(process.env.BENCH_PROFILE_DIR) : undefined;
  const startProd = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['start:prod'].split(' ');
  // BENCH_METER_NODE_FLAGS replaces start:prod's node flags (e.g. "--max-semi-space-size=4" to
  // compare young-generation sizes, "--trace-gc" to see each collection in the meter's output).
  const nodeArgs = flagsOverride !== undefined ? [...flagsOverride.split(' ').filter(Boolean), ...startProd.filter((a) => a.endsWith('.js'))] : startProd.slice(1);
  const direct = profileDir !== undefined || flagsOverride !== undefined;
  const { child, url } = await start(
    direct ? process.execPath : 'npm',
    direct ? [...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), ...nodeArgs] : ['run', '--silent', 'start:prod'],
    {
      PORT: String(await freePort()),
      FRS_METER_HOST: '127.0.0.1',
      FRS_METER_DATA_DIR: dataDir,
      FRS_ENDPOINT: upstream,
      FRS_PROJECT_ID: PROJECT,
      HUAWEICLOUD_SDK_AK: DEMO_CREDENTIALS.ak,
      HUAWEICLOUD_SDK_SK: DEMO_CREDENTIALS.sk,
      FRS_METER_ADMIN_TOKEN: 'bench-admin-token',
      FRS_METER_SECRET_KEY: 'bench-secret-key-0000',
      FRS_METER_BILLING_SYNC: 'off',
      ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
      ...env,
    },
    /listening on (http:\/\/[^\s]+)/,
  );
  const node = () => [child.pid!, ...descendants(child.pid!)].filter((p) => cmdline(p).includes('dist/src/main.js'));
  const created = await fetch(`${url}/admin/apps`, {
    method: 'POST',
    headers: { authorization: 'Bearer bench-admin-token', 'content-type': 'application/json' },
    body: JSON.stringify({ name: `bench-${Date.now()}-${Math.floor(Math.random() * 1e6)}` }),
  }).then((r) => r.json() as Promise<{ api_key: string }>);
  // SIGTERM to the node process itself: npm does not always pass signals on.
  const stop = async () => {
    for (const pid of node()) process.kill(pid, 'SIGTERM');
    await stopChild(child);
  };
  return { url, apiKey: created.api_key, pids: node, stop };
}

interface Load {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly requests: number;
  readonly errors: number;
  /** Requests the load generator gave up on after its own 2 s timeout. */
  readonly timeouts: number;
}

const bodyFile = path.join(work, 'body.json');
writeFileSync(bodyFile, BODY);
const luaFile = path.join(work, 'post.lua');
writeFileSync(
  luaFile,
  `local f = io.open(os.getenv("BENCH_BODY"), "rb")\nwrk.method = "POST"\nwrk.body = f:read("*a")\nf:close()\nwrk.headers["Content-Type"] = "application/json"\nlocal key = os.getenv("BENCH_KEY")\nif key ~= nil and key ~= "" then wrk.headers["X-Auth-Token"] = key end\n`,
);
const WRK = onPath('wrk');

function ms(v: string, unit: string): number {
  return Number(v) * (unit === 'us' ? 0.001 : unit === 's' ? 1000 : 1);
}

async function load(url: string, c: number, seconds: number, apiKey = ''): Promise<Load> {
  if (WRK) {
    const out = execFileSync(WRK, ['-t1', `-c${c}`, `-d${seconds}s`, '--latency', '-s', luaFile, url], { env: { ...process.env, BENCH_BODY: bodyFile, BENCH_KEY: apiKey }, encoding: 'utf8', maxBuffer: 1 << 20 });
    const pick = (re: RegExp) => re.exec(out);
    const p50 = pick(/^\s+50%\s+([\d.]+)(us|ms|s)\s*$/m)!;
    const p99 = pick(/^\s+99%\s+([\d.]+)(us|ms|s)\s*$/m)!;
    const requests = Number(pick(/(\d+) requests in/)![1]);
    const non2xx = Number(pick(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0);
    // wrk's timeouts are its own 2 s client timeout (a slow answer on a saturated machine), not failures.
    const sock = pick(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
    const errors = non2xx + (sock ? Number(sock[1]) + Number(sock[2]) + Number(sock[3]) : 0);
    const timeouts = sock ? Number(sock[4]) : 0;
    return { rps: Number(pick(/Requests\/sec:\s+([\d.]+)/)![1]), p50: ms(p50[1], p50[2]), p99: ms(p99[1], p99[2]), requests, errors, timeouts };
  }
  // No wrk: autocannon, one worker, same body and headers. Not a dependency (the bench is not
  // run in CI): `npm i --no-save autocannon` where wrk cannot be installed.
  let autocannonModule: unknown;
  try {
    autocannonModule = require('autocannon');
  } catch {
    throw new Error('npm run bench needs a load generator: install wrk (Debian package "wrk"), or run `npm i --no-save autocannon`');
  }
  const autocannon = autocannonModule as (o: object) => Promise<{ requests: { average: number; total: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number }>;
  const r = await autocannon({ url, connections: c, duration: seconds, method: 'POST', body: BODY, headers: { 'content-type': 'application/json', ...(apiKey ? { 'x-auth-token': apiKey } : {}) } });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, requests: r.requests.total, errors: r.non2xx + r.errors, timeouts: 0 };
}

interface Row {
  readonly target: string;
  readonly c: number;
  readonly load: Load;
  /** CPU seconds of the proxy process per 1,000 requests (undefined for direct). */
  readonly cpuPer1000?: number;
  readonly peakRss?: number;
  /** The measurement's time on the monotonic clock (µs) and the proxy's pid, to find its samples in a CPU profile. */
  readonly window?: readonly [number, number];
  readonly pid?: number;
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
      m.request(app, op, 200, 'none', 'success', 0.081, 0.08, 'req-0123456789');
      buffer.recordRequest(now, app, op, 200, 'none', 'success');
    }
    return Number(process.hrtime.bigint() - t0) / 1000 / count;
  };
  run(50_000);
  return { perRequestUs: run(iterations) };
}

const f = (v: number | undefined, d = 2, w = 7) => (v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(d)).padStart(w);

async function main(): Promise<void> {
  const haveNginx = onPath('nginx') !== undefined;
  const want = (t: string) => !ONLY || ONLY.includes(t);
  process.stdout.write('building frs-meter (npm run build) …\n');
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });

  const upstream = haveNginx
    ? await nginx('upstream', (port) => `  server { listen 127.0.0.1:${port}; location / { default_type application/json; return 200 '${UPSTREAM_JSON}'; } }`)
    : await emulatorUpstream();
  const targets: Array<{ name: string; s: Started; key?: string }> = [];
  if (haveNginx && want('nginx')) {
    const u = new URL(upstream.url);
    targets.push({
      name: 'nginx (1 worker)',
      s: await nginx(
        'proxy',
        (port) =>
          `  upstream up { server ${u.host}; keepalive 64; }\n  server { listen 127.0.0.1:${port}; location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } }`,
      ),
    });
  }
  if (want('bare')) targets.push({ name: 'bare node+undici', s: await bareForwarder(upstream.url) });
  if (want('sink')) targets.push({ name: 'node sink (no up)', s: await nodeSink() });
  if (want('meter')) {
    const unsigned = await meter(upstream.url, {});
    targets.push({ name: 'frs-meter unsigned', s: unsigned, key: unsigned.apiKey });
  }
  // BENCH_METER_VARIANTS="flags|flags…": one more unsigned frs-meter per set of node flags, in
  // the same run (e.g. young-generation sizes side by side).
  for (const flags of process.env.BENCH_METER_VARIANTS?.split('|') ?? []) {
    const v = await meter(upstream.url, {}, flags);
    targets.push({ name: `meter ${flags.replace(/--max-semi-space-size=/g, 'semi=').replace(/--/g, '')}`.slice(0, 20), s: v, key: v.apiKey });
  }
  if (want('meter-signed')) {
    const signed = await meter(upstream.url, { FRS_METER_SIGN_BODY: 'on' });
    targets.push({ name: 'frs-meter sign-body', s: signed, key: signed.apiKey });
  }
  const p = pathFor('face_detect', PROJECT);
  const cores = os.cpus().length;
  console.log(
    `\nfrs-meter bench: face_detect POSTs with a ${(BODY.length / 1024).toFixed(0)} KB base64 body, ${DURATION} s per measurement, load from ${WRK ? 'wrk -t1' : 'autocannon'}; ` +
      `upstream: ${haveNginx ? 'nginx returning a fixed small JSON' : 'the emulator with latency 0 (nginx not on PATH: nginx rows skipped)'}; ` +
      `every process on the same ${cores} cores (${os.loadavg()[0].toFixed(1)} load before start)\n`,
  );

  const rows: Row[] = [];
  let peakResetRefused = false;
  /** Each target's peak RSS before each measurement began: start-up, warm-up, earlier levels. */
  const startPeaks = new Map<string, number>();
  // Warm-up of each target (connections, JIT), then each concurrency level target by target.
  for (const t of targets) await load(`${t.s.url}${p}`, 16, 2, t.key);
  for (const c of LEVELS) {
    rows.push({ target: 'direct', c, load: await load(`${upstream.url}${p}`, c, DURATION) });
    for (const t of targets) {
      const pids = t.s.pids();
      const sinceStart = peakRssMb(pids);
      if (!resetPeakRss(pids)) peakResetRefused = true;
      startPeaks.set(t.name, Math.max(startPeaks.get(t.name) ?? 0, sinceStart));
      const cpu0 = cpuSeconds(pids);
      const fromUs = Number(process.hrtime.bigint() / 1000n);
      const l = await load(`${t.s.url}${p}`, c, DURATION, t.key);
      const toUs = Number(process.hrtime.bigint() / 1000n);
      const cpu = cpuSeconds(pids) - cpu0;
      rows.push({ target: t.name, c, load: l, cpuPer1000: (cpu / l.requests) * 1000, peakRss: peakRssMb(pids), window: [fromUs, toUs], pid: pids[0] });
    }
  }

  console.log(`${'target'.padEnd(20)} ${'c'.padStart(3)} ${'req/s'.padStart(8)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'+p50'.padStart(7)} ${'+p99'.padStart(7)} ${'CPU s/1k'.padStart(8)} ${'RSS MB'.padStart(7)} ${'rps/nginx'.padStart(9)} ${'rps/bare'.padStart(8)} ${'cpu/nginx'.padStart(9)} ${'cpu/bare'.padStart(8)} ${'err/tmo'.padStart(8)}`);
  for (const c of LEVELS) {
    const at = rows.filter((r) => r.c === c);
    const direct = at.find((r) => r.target === 'direct')!;
    const ng = at.find((r) => r.target.startsWith('nginx'));
    const bare = at.find((r) => r.target.startsWith('bare'));
    for (const r of at) {
      const isDirect = r === direct;
      console.log(
        `${r.target.padEnd(20)} ${String(c).padStart(3)} ${f(r.load.rps, 0, 8)} ${f(r.load.p50)} ${f(r.load.p99)} ${f(isDirect ? undefined : r.load.p50 - direct.load.p50)} ${f(isDirect ? undefined : r.load.p99 - direct.load.p99)} ${f(r.cpuPer1000, 3, 8)} ${f(r.peakRss, 0)} ` +
          `${f(ng && !isDirect ? r.load.rps / ng.load.rps : undefined, 2, 9)} ${f(bare && !isDirect ? r.load.rps / bare.load.rps : undefined, 2, 8)} ${f(ng?.cpuPer1000 && r.cpuPer1000 ? r.cpuPer1000 / ng.cpuPer1000 : undefined, 2, 9)} ${f(bare?.cpuPer1000 && r.cpuPer1000 ? r.cpuPer1000 / bare.cpuPer1000 : undefined, 2, 8)} ${`${r.load.errors}/${r.load.timeouts}`.padStart(8)}`,
      );
    }
    console.log('');
  }
  console.log('  +p50/+p99: latency added over calling the upstream directly at the same concurrency. CPU s/1k: CPU seconds of the proxy process per 1,000 requests.');
  if (want('sink')) console.log('  node sink (no up): node:http reading the body and answering itself (scripts/node-sink.js), no upstream: its +p50/+p99 is what Node alone adds to take in the body, before any proxying.');
  console.log(
    peakResetRefused
      ? '  RSS MB: peak resident set of the proxy process since it started (VmHWM; this kernel refused the per-measurement reset). Ratios: to nginx (1 worker) and to the bare node:http + undici forwarder, same run.'
      : '  RSS MB: peak resident set of the proxy process during that measurement (VmHWM, reset before each through /proc/<pid>/clear_refs). Ratios: to nginx (1 worker) and to the bare node:http + undici forwarder, same run.',
  );
  if (!peakResetRefused) {
    for (const t of targets) console.log(`  ${t.name}: peak RSS from start to its last measurement, start-up and JIT warm-up included: ${f(Math.max(startPeaks.get(t.name) ?? 0, peakRssMb(t.s.pids())), 0).trim()} MB`);
  }
  console.log('  Targets: CPU/request ≤ 1.2× bare; added latency at c=1 ≤ 0.3 ms p50, ≤ 2 ms p99; c=16 req/s ≥ 0.45× nginx; RSS ≤ 150 MB at c=64.\n');
  const cost = meteringCost();
  console.log(`  metering on the hot path: ${cost.perRequestUs.toFixed(2)} µs per request (usage buffer + metric children + QPS window; target ≤ 50 µs)`);
  const b = await budgetAdmissionCost();
  console.log(`  budget admission: ${b.callsUs.toFixed(2)} µs per call with a calls cap, ${b.amountUs.toFixed(2)} µs with a currency cap (drawdown engine's marginal cost + apply), from the lease held in memory, no database round trip (target < 20 µs)`);

  for (const t of targets) await t.s.stop();
  await upstream.stop();
  if (process.env.BENCH_PROFILE_DIR) printProfiles(path.resolve(process.env.BENCH_PROFILE_DIR), rows);
  // Flush and month report on a month of data (issue 10): also `npm run bench:accounting` alone.
  if (process.env.BENCH_ACCOUNTING !== 'off') printAccounting(await accountingBench());
}

/** For each frs-meter row, where its main thread's CPU went during that measurement (its --cpu-prof file). */
function printProfiles(dir: string, rows: readonly Row[]): void {
  console.log('\nwhere frs-meter spends its CPU under load (main-thread samples of --cpu-prof inside each measurement; GC helper threads and the kernel work of other processes are not in it):');
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  for (const r of rows) {
    if (!r.window || r.pid === undefined) continue;
    const file = files.find((f) => f.split('.').includes(String(r.pid)));
    if (!file) continue;
    for (const line of printProfile(r.target, r.c, summarizeProfile(path.join(dir, file), r.window[0], r.window[1]), r.load.requests)) console.log(line);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
