// Runs `npm run demo` (scripts/demo.ts) as a child process, as a new user would, and reads the
// console URL and the read-only token from what it prints. Used by the console's demo test and
// by scripts/console-screenshots.ts.

import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';

export interface DemoRun {
  /** e.g. http://127.0.0.1:40123 */
  readonly base: string;
  readonly consoleUrl: string;
  readonly readonlyToken: string;
  readonly adminToken: string;
  readonly output: () => string;
  stop(): Promise<void>;
}

const REPO = path.join(__dirname, '..', '..');

export async function startDemo(env: Record<string, string>, timeoutMs = 120_000): Promise<DemoRun> {
  const child: ChildProcess = spawn(process.execPath, [require.resolve('ts-node/dist/bin.js'), '--transpile-only', path.join(REPO, 'scripts', 'demo.ts')], {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (out.includes('keep running; press Ctrl-C')) break;
    if (child.exitCode !== null) throw new Error(`the demo exited (${child.exitCode}) before it was ready:\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the demo was not ready after ${timeoutMs} ms:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const consoleLine = /console\s+(http:\/\/\S+)\/console\s+\(log in with the read-only token (\S+)\)/.exec(out);
  const adminLine = /Authorization: Bearer (\S+)'/.exec(out);
  if (!consoleLine || !adminLine) throw new Error(`the demo did not print the console URL, read-only token and admin token:\n${out}`);
  return {
    base: consoleLine[1],
    consoleUrl: `${consoleLine[1]}/console`,
    readonlyToken: consoleLine[2],
    adminToken: adminLine[1],
    output: () => out,
    async stop() {
      if (child.exitCode === null) child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
