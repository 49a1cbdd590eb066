// Where a proxy's CPU goes under load, from a V8 CPU profile (`node --cpu-prof`): the samples
// taken inside one measurement's time window, idle left out, split by origin — frs-meter's own
// code, undici (its JS and its llhttp wasm), Node's own JS (http server, streams, timers),
// native calls (writev and the other bindings: mostly the kernel's socket work), the garbage
// collector and V8's unattributed "(program)" time — and the functions with the most self time.
// `npm run bench` prints it for frs-meter when BENCH_PROFILE_DIR is set.

import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export const ORIGINS = ['frs-meter', 'undici', 'node core JS', 'native', 'GC', 'program', 'other libs'] as const;
export type Origin = (typeof ORIGINS)[number];

export interface ProfileWindow {
  /** CPU milliseconds sampled in the window (idle excluded). */
  readonly busyMs: number;
  readonly byOrigin: Readonly<Record<Origin, number>>;
  /** [function, file:line, ms], most self time first. */
  readonly top: readonly (readonly [string, number])[];
}

function originOf(url: string, name: string): Origin | 'idle' {
  if (url === '') {
    if (name === '(idle)') return 'idle';
    if (name === '(garbage collector)') return 'GC';
    if (name === '(program)') return 'program';
    return 'native';
  }
  if (url.startsWith('wasm://') || url.includes('node_modules/undici/')) return 'undici';
  if (url.startsWith('node:')) return 'node core JS';
  if (url.includes('/dist/src/') || url.includes('/src/')) return url.includes('node_modules') ? 'other libs' : 'frs-meter';
  return 'other libs';
}

function label(frame: ProfileNode['callFrame']): string {
  const file = frame.url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, '').replace(/^file:\/\//, '');
  return `${frame.functionName || '(anonymous)'}${file ? ` ${file}:${frame.lineNumber + 1}` : ''}`;
}

/**
 * Sums a profile's samples whose time falls in [fromUs, toUs) — the monotonic clock in µs, as
 * `process.hrtime.bigint() / 1000n` reads it in any process on the machine (V8 stamps samples
 * from the same clock).
 */
export function summarizeProfile(file: string, fromUs: number, toUs: number, topN = 12): ProfileWindow {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const byOrigin = Object.fromEntries(ORIGINS.map((o) => [o, 0])) as Record<Origin, number>;
  const self = new Map<string, number>();
  let t = profile.startTime;
  let busy = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    // Each delta is the time since the previous sample: the sample at i stands for it.
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (t < fromUs || t >= toUs) continue;
    const frame = nodes.get(profile.samples[i])!.callFrame;
    const origin = originOf(frame.url, frame.functionName);
    if (origin === 'idle') continue;
    byOrigin[origin] += delta;
    busy += delta;
    const key = label(frame);
    self.set(key, (self.get(key) ?? 0) + delta);
  }
  for (const o of ORIGINS) byOrigin[o] /= 1000;
  const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, topN).map(([k, v]) => [k, v / 1000] as const);
  return { busyMs: busy / 1000, byOrigin, top };
}

/** The summary as printed lines: shares by origin, CPU µs per request of each, and the top functions. */
export function printProfile(name: string, c: number, w: ProfileWindow, requests: number): string[] {
  const perReq = (ms: number) => ((ms * 1000) / Math.max(1, requests)).toFixed(1);
  const lines = [`  ${name}, c=${c}: ${w.busyMs.toFixed(0)} ms of CPU sampled on the main thread over ${requests} requests (${perReq(w.busyMs)} µs per request)`];
  lines.push(
    `    ${ORIGINS.map((o) => `${o} ${((100 * w.byOrigin[o]) / Math.max(1e-9, w.busyMs)).toFixed(1)}% (${perReq(w.byOrigin[o])} µs)`).join(', ')}`,
  );
  lines.push(`    most self time: ${w.top.map(([k, ms]) => `${k} ${((100 * ms) / Math.max(1e-9, w.busyMs)).toFixed(1)}%`).join('; ')}`);
  return lines;
}
