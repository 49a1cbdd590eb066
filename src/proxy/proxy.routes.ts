// Serves the proxy on node:http directly, in front of Fastify: requests for FRS paths under /v1
// and /v2 go to ProxyService.handle with the raw request and response, everything else (admin
// API, /metrics, health) to Fastify. Fastify's per-request machinery (request/reply objects,
// content-type parsing with its async wrappers, hooks, serialisation) cost more than the rest of
// the proxy together in profiles; the proxy needs none of it: it reads the body itself
// (body-reader.ts) and streams the answer.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { Logger } from '@nestjs/common';
import { meterErrorBody } from '../frs/error-codes';
import { ProxyService } from './proxy.service';

const METHODS = new Set(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS']);

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/** Whether the raw proxy serves this request (an FRS path and method); otherwise Fastify does. */
export function isProxied(req: IncomingMessage): boolean {
  const url = req.url;
  return url !== undefined && url.length > 4 && url.charCodeAt(0) === 47 /* / */ && url.charCodeAt(1) === 118 /* v */ && (url.startsWith('/v1/') || url.startsWith('/v2/')) && METHODS.has(req.method ?? '');
}

/**
 * The proxy's request listener. `stopping` is true once a graceful stop began: answers then close
 * their connection, and a new request on a kept-alive socket is refused with 503 (as Fastify's
 * return503OnClosing does for the other routes) so a load balancer sends it elsewhere.
 */
export function proxyListener(proxy: ProxyService, stopping: () => boolean, watchBody?: (req: IncomingMessage, res: ServerResponse) => void): RequestListener {
  const logger = new Logger('Proxy');
  return (req, res) => {
    if (stopping()) {
      const body = meterErrorBody('METER.0503', 'frs-meter is stopping; retry on another replica');
      res.writeHead(503, { 'content-type': 'application/json;charset=UTF-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
      res.end(body);
      return;
    }
    // The slow-body rule of server-timeouts.ts (408 for a body that trickles in).
    watchBody?.(req, res);
    proxy.handle(req, res).catch((err: Error) => {
      logger.error(`proxy error: ${err.stack ?? err.message}`);
      if (!res.headersSent && !res.destroyed) {
        const body = meterErrorBody('METER.0502', 'Proxy error');
        res.writeHead(502, { 'content-type': 'application/json;charset=UTF-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
        res.end(body);
      } else res.destroy();
    });
  };
}
