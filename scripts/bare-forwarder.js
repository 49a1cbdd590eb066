// The runtime's floor for `npm run bench`: the thinnest useful Node proxy — node:http in,
// undici Pool out, the body buffered and forwarded, the answer buffered and sent back, no
// metering, no auth, no framework. Whatever frs-meter costs above this is its own work.
//
//   UPSTREAM=http://127.0.0.1:8081 PORT=0 node scripts/bare-forwarder.js

'use strict';
const http = require('node:http');
const { URL } = require('node:url');
const { Pool } = require('undici');

const upstream = process.env.UPSTREAM;
if (!upstream) {
  process.stderr.write('bare-forwarder: UPSTREAM is required (e.g. http://127.0.0.1:8081)\n');
  process.exit(1);
}
const pool = new Pool(new URL(upstream).origin, { connections: 64, keepAliveTimeout: 60_000 });
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host', 'content-length']);

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const headers = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k)) headers[k] = v;
    try {
      const up = await pool.request({ method: req.method, path: req.url, headers, body: chunks.length ? Buffer.concat(chunks) : undefined });
      const body = Buffer.from(await up.body.arrayBuffer());
      const out = {};
      for (const [k, v] of Object.entries(up.headers)) if (!HOP.has(k)) out[k] = v;
      res.writeHead(up.statusCode, out);
      res.end(body);
    } catch (err) {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(String(err));
    }
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`bare-forwarder listening on http://127.0.0.1:${server.address().port}\n`);
});
process.on('SIGTERM', () => server.close(() => pool.close().then(() => process.exit(0))));
