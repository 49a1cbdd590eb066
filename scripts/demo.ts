// `npm run demo`: everything on one machine with nothing installed — embedded PostgreSQL, the
// bundled FRS + IAM + BSS emulator, frs-meter in front of it, a demo app, ~20 s of mixed traffic
// over every billable operation with a progress line, a billing sync, and the summary:
// calls per operation and error code, free calls and packages, the reconciliation, and the URLs.

import { request } from 'undici';
import * as path from 'node:path';
import { rmSync } from 'node:fs';
import { loadConfig } from '../src/config/config';
import { startService } from '../src/app';
import { DEMO_CREDENTIALS, startEmulator } from '../src/emulator/emulator';
import { pathFor, OperationName } from '../src/frs/operations';
import { demoExtras } from './demo-extras';

const SECONDS = Number(process.env.DEMO_SECONDS ?? 20);
const ADMIN = 'demo-admin-token';
/** What finance logs in to the console with: it can read everything and change nothing. */
const READONLY = 'demo-finance-readonly-token';
/** Progress in a terminal: redrawn in place; in a log (no TTY): one line every few seconds. */
const PROGRESS_MS = process.stdout.isTTY ? 250 : 5000;
const PROJECT = 'demo0000000000000000000000000001';
const IMAGE = Buffer.alloc(48 * 1024, 11).toString('base64');
const VIDEO = Buffer.alloc(96 * 1024, 5).toString('base64');

type Billable = Exclude<OperationName, 'unknown'>;
/** Relative weights of the traffic mix, roughly what a face-login product sends. */
const MIX: Array<[Billable, number]> = [
  ['face_detect', 30],
  ['face_compare', 20],
  ['face_search', 20],
  ['live_detect_face', 10],
  ['face_add', 8],
  ['live_detect', 3],
  ['face_delete', 4],
  ['face_batch_delete', 1],
  ['face_list', 4],
];

function pick(): Billable {
  const total = MIX.reduce((n, [, w]) => n + w, 0);
  let r = Math.random() * total;
  for (const [op, w] of MIX) if ((r -= w) < 0) return op;
  return 'face_detect';
}

const added: string[] = [];

function bodyFor(op: Billable): { method: string; query?: string; body?: unknown } {
  switch (op) {
    case 'face_detect':
      return { method: 'POST', body: { image_base64: IMAGE } };
    case 'face_compare':
      return { method: 'POST', body: { image1_base64: IMAGE, image2_base64: IMAGE } };
    case 'face_search':
      return { method: 'POST', body: { image_base64: IMAGE, top_n: 5 } };
    case 'live_detect_face':
      return { method: 'POST', body: { image_base64: IMAGE } };
    case 'face_add': {
      const id = `person-${added.length}`;
      added.push(id);
      return { method: 'POST', body: { image_base64: IMAGE, external_image_id: id, single: true } };
    }
    case 'live_detect':
      return { method: 'POST', body: { video_base64: VIDEO, actions: '1' } };
    case 'face_delete':
      // Faces this demo added (an unknown id would be FRS.0401, and a real app deletes what it added).
      return added.length > 0 ? { method: 'DELETE', query: `external_image_id=${added.shift()}` } : { method: 'GET', query: 'offset=0&limit=5' };
    case 'face_batch_delete':
      return { method: 'DELETE', body: { filter: 'external_image_id:person-0' } };
    default:
      return { method: 'GET', query: 'offset=0&limit=5' };
  }
}

async function admin(base: string, method: string, p: string, body?: unknown) {
  const res = await request(`${base}${p}`, {
    method: method as 'GET',
    headers: { authorization: `Bearer ${ADMIN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.body.text();
  return { status: res.statusCode, json: text ? JSON.parse(text) : undefined };
}

async function main(): Promise<void> {
  // The demo's own folder, emptied on every run: its emulator's bill starts empty too, so the
  // reconciliation compares like with like.
  const dataDir = path.resolve(process.env.FRS_METER_DATA_DIR ?? '.frs-meter/demo');
  if (!process.env.FRS_METER_DATA_DIR) rmSync(dataDir, { recursive: true, force: true });
  console.log(`frs-meter demo — embedded PostgreSQL in ${dataDir}\n`);
  const emulator = await startEmulator({ port: Number(process.env.DEMO_EMULATOR_PORT ?? 0), credentials: [DEMO_CREDENTIALS], log: () => undefined, ...demoExtras.emulatorOptions() });
  const config = loadConfig({
    PORT: process.env.PORT ?? '0',
    FRS_METER_HOST: '127.0.0.1',
    FRS_METER_DATA_DIR: dataDir,
    FRS_ENDPOINT: emulator.url,
    FRS_PROJECT_ID: PROJECT,
    BSS_ENDPOINT: emulator.url,
    HUAWEICLOUD_SDK_AK: DEMO_CREDENTIALS.ak,
    HUAWEICLOUD_SDK_SK: DEMO_CREDENTIALS.sk,
    FRS_METER_ADMIN_TOKEN: ADMIN,
    FRS_METER_READONLY_TOKENS: READONLY,
    FRS_METER_SECRET_KEY: 'demo-secret-key-not-for-production',
    FRS_METER_BILLING_SYNC: 'off',
    ...demoExtras.serviceEnv(),
    ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
  });
  const service = await startService({ config, logger: ['error'] });
  const base = service.url;
  const created = await admin(base, 'POST', '/admin/apps', { name: 'demo-app' });
  const apiKey: string = created.json.api_key;
  // Two more callers, so the console's Apps and Reconciliation pages have shares to show.
  const others: string[] = [];
  for (const name of ['checkout', 'support-desk']) others.push((await admin(base, 'POST', '/admin/apps', { name })).json.api_key);
  await demoExtras.setup(base, ADMIN);
  // The emulator plays Huawei's side: it honours the QPS package registered above.
  emulator.setQps({ face_detect: 20 });

  // A face set for search/add/list, created through the proxy like any app would.
  const hdr = { 'x-auth-token': apiKey, 'content-type': 'application/json' };
  await request(`${base}${pathFor('face_set_create', PROJECT, 'demo')}`, { method: 'POST', headers: hdr, body: JSON.stringify({ face_set_name: 'demo' }) }).then((r) => r.body.dump());

  const counts = new Map<string, number>();
  let sent = 0;
  let ok = 0;
  let failed = 0;
  const deadline = Date.now() + SECONDS * 1000;
  const started = Date.now();
  const progressLine = (): string => {
    const s = (Date.now() - started) / 1000;
    return `  traffic ${s.toFixed(0).padStart(2)}/${SECONDS}s  sent ${String(sent).padStart(5)}  ok ${String(ok).padStart(5)}  errors ${String(failed).padStart(4)}  ${(sent / Math.max(s, 0.001)).toFixed(1)} req/s `;
  };
  const progress = setInterval(() => {
    // Carriage returns only where a terminal redraws them; a CI log gets whole lines.
    if (process.stdout.isTTY) process.stdout.write(`\r${progressLine()}`);
    else console.log(progressLine().trimEnd());
  }, PROGRESS_MS);
  // 8 workers at ~30 calls/s in all: face_detect and friends stay under FRS's default 10 QPS
  // most of the time, while action liveness (1 QPS) shows what throttling looks like.
  await Promise.all(
    Array.from({ length: 8 }, async (_, worker) => {
      // Workers 0-3 are demo-app, 4-5 checkout, 6-7 support-desk: shares of about 1/2, 1/4, 1/4.
      const key = worker < 4 ? apiKey : others[worker < 6 ? 0 : 1];
      const headers = { ...hdr, 'x-auth-token': key };
      while (Date.now() < deadline) {
        let op = pick();
        const b = bodyFor(op);
        if (op === 'face_delete' && b.method === 'GET') op = 'face_list';
        const url = `${base}${pathFor(op, PROJECT, 'demo')}${b.query ? `?${b.query}` : ''}`;
        sent++;
        try {
          const res = await request(url, { method: b.method as 'GET', headers, body: b.body ? JSON.stringify(b.body) : undefined });
          const text = await res.body.text();
          let code = 'none';
          if (res.statusCode >= 400) code = (JSON.parse(text) as { error_code?: string }).error_code ?? 'other';
          if (res.statusCode < 400) ok++;
          else failed++;
          const key = `${op}\u0000${res.statusCode}\u0000${code}`;
          counts.set(key, (counts.get(key) ?? 0) + 1);
        } catch {
          failed++;
        }
        await new Promise((r) => setTimeout(r, 150 + Math.random() * 200));
      }
    }),
  );
  clearInterval(progress);
  if (process.stdout.isTTY) process.stdout.write(`\r${progressLine()}\n\n`);
  else console.log(`${progressLine().trimEnd()}  (done)\n`);

  console.log('Calls per operation and answer, as the demo app saw them:');
  console.log(`  ${'operation'.padEnd(20)} ${'HTTP'.padEnd(5)} ${'error_code'.padEnd(12)} calls`);
  for (const [key, n] of [...counts.entries()].sort()) {
    const [op, status, code] = key.split('\u0000');
    console.log(`  ${op.padEnd(20)} ${status.padEnd(5)} ${code.padEnd(12)} ${String(n).padStart(5)}`);
  }
  console.log('');
  await demoExtras.summary(base, ADMIN, service);
  await demoExtras.billing(base, ADMIN);

  console.log('Look at:');
  console.log(`  console          ${base}/console   (log in with the read-only token ${READONLY})`);
  console.log(`  metrics          ${base}/metrics`);
  console.log(`  usage            curl -H 'Authorization: Bearer ${ADMIN}' '${base}/admin/usage'`);
  console.log(`  timeouts         curl -H 'Authorization: Bearer ${ADMIN}' '${base}/admin/timeouts'`);
  console.log(`  readiness        ${base}/readyz`);
  console.log(`  emulator ledger  ${emulator.url}/__emulator/ledger`);
  console.log(`  dashboards       grafana/dashboards/*.json (docker compose up — see README)`);

  const stop = async () => {
    await service.close();
    await emulator.close();
    process.exit(0);
  };
  // Keeps running (in a terminal or not) so the console can be opened; DEMO_EXIT=1 stops here.
  if (process.env.DEMO_EXIT !== '1') {
    console.log('\nfrs-meter and the emulator keep running; press Ctrl-C to stop.');
    process.on('SIGINT', () => void stop());
    process.on('SIGTERM', () => void stop());
  } else {
    await stop();
  }
}

main().catch((err) => {
  console.error(`demo failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
