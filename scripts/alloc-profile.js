// Heap bytes allocated per request, by function: V8's sampling heap profiler over the inspector
// protocol, counting objects the garbage collector has already freed too, while wrk drives load.
// Shows what a proxied call allocates (the garbage behind the young-generation collections).
//
//   node --inspect=127.0.0.1:9229 --max-semi-space-size=1 dist/src/main.js   (with its usual env)
//   ALLOC_URL=http://127.0.0.1:8080/v2/<project>/face-detect ALLOC_KEY=<api key> ALLOC_BODY=body.json \
//     node scripts/alloc-profile.js
//
// ALLOC_INSPECT (default http://127.0.0.1:9229), ALLOC_SECONDS (5), ALLOC_CONCURRENCY (1).

'use strict';
/* global fetch */
const { execFileSync } = require('node:child_process');
const { writeFileSync, mkdtempSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const WebSocket = require('ws');

const inspect = process.env.ALLOC_INSPECT ?? 'http://127.0.0.1:9229';
const url = process.env.ALLOC_URL;
if (!url || !process.env.ALLOC_BODY) {
  process.stderr.write('alloc-profile: ALLOC_URL and ALLOC_BODY are required (see the comment at the top)\n');
  process.exit(2);
}

async function main() {
  const [target] = await (await fetch(`${inspect}/json/list`)).json();
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let id = 0;
  const waiting = new Map();
  ws.on('message', (m) => {
    const d = JSON.parse(String(m));
    if (d.id !== undefined && waiting.has(d.id)) {
      waiting.get(d.id)(d);
      waiting.delete(d.id);
    }
  });
  const send = (method, params = {}) =>
    new Promise((resolve) => {
      waiting.set(++id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });

  const lua = path.join(mkdtempSync(path.join(os.tmpdir(), 'alloc-')), 'post.lua');
  writeFileSync(lua, `local f = io.open(os.getenv("ALLOC_BODY"), "rb")\nwrk.method = "POST"\nwrk.body = f:read("*a")\nf:close()\nwrk.headers["Content-Type"] = "application/json"\nlocal k = os.getenv("ALLOC_KEY")\nif k ~= nil and k ~= "" then wrk.headers["X-Auth-Token"] = k end\n`);
  const wrk = (c, s) => execFileSync('wrk', ['-t1', `-c${c}`, `-d${s}s`, '-s', lua, url], { encoding: 'utf8' });
  wrk(4, 2); // warm-up: JIT, connections

  await send('HeapProfiler.enable');
  await send('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  const out = wrk(Number(process.env.ALLOC_CONCURRENCY ?? 1), Number(process.env.ALLOC_SECONDS ?? 5));
  const { profile } = (await send('HeapProfiler.stopSampling')).result;
  const requests = Number(/(\d+) requests in/.exec(out)[1]);

  const where = (f) => `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, '')}:${f.lineNumber + 1}`;
  const self = new Map();
  const ours = new Map();
  let total = 0;
  const walk = (node, stack) => {
    const name = where(node.callFrame);
    if (node.selfSize > 0) {
      total += node.selfSize;
      self.set(name, (self.get(name) ?? 0) + node.selfSize);
      const mine = [...stack, name].reverse().find((s) => s.includes(' src/')) ?? '(no frs-meter frame on the stack)';
      ours.set(mine, (ours.get(mine) ?? 0) + node.selfSize);
    }
    for (const c of node.children) walk(c, [...stack, name]);
  };
  walk(profile.head, []);
  const per = (b) => String(Math.round(b / requests)).padStart(7);
  console.log(`${requests} requests: ${Math.round(total / requests)} bytes of heap allocated per request (sampled every 512 bytes, freed objects included)`);
  console.log('by allocating function:');
  [...self].sort((a, b) => b[1] - a[1]).slice(0, 20).forEach(([k, v]) => console.log(`${per(v)}  ${k}`));
  console.log('by the nearest frs-meter function on the stack:');
  [...ours].sort((a, b) => b[1] - a[1]).slice(0, 20).forEach(([k, v]) => console.log(`${per(v)}  ${k}`));
  ws.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
