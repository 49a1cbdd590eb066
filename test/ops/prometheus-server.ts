// Starts a real Prometheus (the `prometheus` binary from Debian's package, installed by
// scripts/ci-promtool.sh) on a free loopback port with a generated config, and talks to its
// HTTP API. Used by live-prometheus.test.ts.

import { ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { stringify } from 'yaml';

export interface QueryResult {
  readonly status: 'success' | 'error';
  readonly error?: string;
  readonly errorType?: string;
  readonly resultType?: string;
  readonly result: readonly { metric: Record<string, string>; value?: [number, string] }[];
}

export interface PrometheusServer {
  readonly url: string;
  /** Instant query through /api/v1/query. */
  query(expr: string): Promise<QueryResult>;
  /** GET any API path, parsed JSON. */
  api<T = unknown>(path: string): Promise<T>;
  /** What the process wrote to stderr (its log) so far. */
  logs(): string;
  stop(): Promise<void>;
}

/** `$PROMETHEUS_BIN`, else `prometheus` on PATH; undefined when neither exists. */
export function prometheusBinary(): string | undefined {
  const candidates = process.env.PROMETHEUS_BIN
    ? [process.env.PROMETHEUS_BIN]
    : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, 'prometheus'));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not this one
    }
  }
  return undefined;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface StartOptions {
  /** The prometheus.yml content, or a function of the server's own `host:port` (to scrape itself). */
  readonly config: Record<string, unknown> | ((self: string) => Record<string, unknown>);
  readonly bin?: string;
  readonly readyTimeoutMs?: number;
}

export async function startPrometheus(opts: StartOptions): Promise<PrometheusServer> {
  const bin = opts.bin ?? prometheusBinary();
  if (!bin) throw new Error('prometheus binary not found (set PROMETHEUS_BIN or run scripts/ci-promtool.sh)');
  const dir = mkdtempSync(join(tmpdir(), 'frs-prom-'));
  const configFile = join(dir, 'prometheus.yml');
  const port = await freePort();
  writeFileSync(configFile, stringify(typeof opts.config === 'function' ? opts.config(`127.0.0.1:${port}`) : opts.config));
  const url = `http://127.0.0.1:${port}`;
  let stderr = '';
  const child: ChildProcess = spawn(
    bin,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
      // Keeps the exemplars frs-meter sends with frs_request_duration_seconds (query_exemplars).
      '--enable-feature=exemplar-storage',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  child.stderr?.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  let exited: number | null | undefined;
  const exit = new Promise<void>((resolve) =>
    child.on('exit', (code) => {
      exited = code;
      resolve();
    }),
  );

  const stop = async (): Promise<void> => {
    if (exited === undefined) {
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const killed = await Promise.race([
        exit.then(() => true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), 5000);
        }),
      ]);
      clearTimeout(timer);
      if (!killed) {
        child.kill('SIGKILL');
        await exit;
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 20_000);
  for (;;) {
    if (exited !== undefined) {
      await stop();
      throw new Error(`prometheus exited (${exited}) before it was ready:\n${stderr}`);
    }
    try {
      const res = await fetch(`${url}/-/ready`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus not ready at ${url} after ${opts.readyTimeoutMs ?? 20_000} ms:\n${stderr}`);
    }
    await sleep(100);
  }

  return {
    url,
    logs: () => stderr,
    stop,
    async api<T>(path: string): Promise<T> {
      const res = await fetch(`${url}${path}`);
      return (await res.json()) as T;
    },
    async query(expr: string): Promise<QueryResult> {
      const res = await fetch(`${url}/api/v1/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ query: expr }).toString(),
      });
      const body = (await res.json()) as {
        status: 'success' | 'error';
        error?: string;
        errorType?: string;
        data?: { resultType: string; result: unknown };
      };
      const raw = body.data?.result;
      return {
        status: body.status,
        error: body.error,
        errorType: body.errorType,
        resultType: body.data?.resultType,
        // scalars come back as one [time, value] pair: present them as one unlabelled sample
        result: Array.isArray(raw) && body.data?.resultType !== 'scalar' ? (raw as QueryResult['result']) : raw ? [{ metric: {}, value: raw as [number, string] }] : [],
      };
    },
  };
}

/**
 * The policy for a missing binary: locally the live suites are skipped with a message; with
 * CI=true they run and fail, so CI cannot pass without having checked anything.
 */
export function livePrometheusPolicy(suite: string): { bin: string | undefined; run: boolean } {
  const bin = prometheusBinary();
  if (bin) return { bin, run: true };
  if (process.env.CI === 'true') return { bin, run: true };
  console.warn(
    `[${suite}] SKIPPED: no \`prometheus\` binary on PATH (or PROMETHEUS_BIN). ` +
      'Install it with `bash scripts/ci-promtool.sh` (apt-get install prometheus); with CI=true this suite fails instead.',
  );
  return { bin, run: false };
}

export function requireBinary(bin: string | undefined): string {
  if (!bin) throw new Error('CI=true but no `prometheus` binary: run scripts/ci-promtool.sh before the tests (it installs Debian\'s prometheus)');
  return bin;
}

/** Polls `check` until it returns true or the time is up. */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, everyMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
