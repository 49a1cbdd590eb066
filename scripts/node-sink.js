// The runtime's floor for receiving, for `npm run bench`: a node:http server that reads the
// request body and answers a fixed small JSON, with no upstream at all. What it adds over nginx
// answering the same request ("direct") is what Node alone costs to take in a 200 KB body and
// answer; a Node proxy pays that and then sends the body on.
//
//   PORT=0 node scripts/node-sink.js

'use strict';
const http = require('node:http');

const ANSWER = '{"faces":[{"bounding_box":{"top_left_x":66,"top_left_y":312,"width":302,"height":384}}]}';
const server = http.createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(ANSWER) });
    res.end(ANSWER);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`node-sink listening on http://127.0.0.1:${server.address().port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
