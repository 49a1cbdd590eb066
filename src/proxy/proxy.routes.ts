// Mounts the proxy on Fastify directly, outside Nest's controller pipeline: FRS paths under /v1
// and /v2 get a raw-bytes body parser (an image body is never parsed) and a size check made
// from Content-Length before any body byte is read.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OPERATIONS } from '../frs/operations';
import { UNAUTHENTICATED_APP } from '../metrics/metrics.service';
import { AppsService } from '../apps/apps.service';
import { ProxyService } from './proxy.service';

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'] as const;

export function proxyRoutes(proxy: ProxyService, apps: AppsService) {
  const maxLimit = Math.max(...OPERATIONS.map((o) => proxy.bodyLimit(o)));
  return async function plugin(instance: FastifyInstance): Promise<void> {
    instance.removeAllContentTypeParsers();
    // One byte over the largest limit lets a chunked body that is too large be told apart.
    instance.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxLimit + 1 }, (_req, body, done) => done(null, body));

    instance.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared === 0) return;
      const operation = proxy.classify(req.method, req.url).operation;
      const limit = proxy.bodyLimit(operation);
      if (declared > limit) {
        const start = process.hrtime.bigint();
        const app = apps.appForToken(req.headers) ?? UNAUTHENTICATED_APP;
        // The unread body is not drained: close the connection once the answer is out.
        reply.header('connection', 'close');
        return proxy.reject(reply, start, app, operation, 413, 'METER.0413', `Request body of ${declared} bytes is over the ${limit}-byte limit for ${operation.name}`, 'client_error');
      }
    });

    instance.setErrorHandler((err: { code?: string; statusCode?: number; message: string }, req, reply) => {
      const operation = proxy.classify(req.method, req.url).operation;
      const app = apps.appForToken(req.headers) ?? UNAUTHENTICATED_APP;
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        reply.header('connection', 'close');
        return proxy.reject(reply, process.hrtime.bigint(), app, operation, 413, 'METER.0413', `Request body is over the ${proxy.bodyLimit(operation)}-byte limit for ${operation.name}`, 'client_error');
      }
      const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 502;
      return proxy.reject(reply, process.hrtime.bigint(), app, operation, status, status === 502 ? 'METER.0502' : 'METER.0400', status === 502 ? 'Proxy error' : err.message, status === 502 ? 'connection_error' : 'client_error');
    });

    const handler = (req: FastifyRequest, reply: FastifyReply) => proxy.handle(req, reply);
    instance.route({ method: [...METHODS], url: '/v1/*', handler });
    instance.route({ method: [...METHODS], url: '/v2/*', handler });
  };
}
