// Assembles and starts one frs-meter instance: database (embedded or DATABASE_URL, migrated),
// Nest on Fastify with the admin API, and the proxy served raw on the same node:http server.

import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import type { LoggerService, LogLevel } from '@nestjs/common';
import { Config } from './config/config';
import { Clock, SystemClock } from './common/clock';
import { openDatabase, OpenedDatabase } from './database/database';
import { MetricsService } from './metrics/metrics.service';
import { AppModule } from './app.module';
import { ProxyService } from './proxy/proxy.service';
import { createServer, Server, ServerOptions } from 'node:http';
import type { FastifyServerFactory } from 'fastify';
import { isProxied, proxyListener, RequestListener } from './proxy/proxy.routes';
import { bodyRateWatcher, guardBodyRate, serverTimeoutOptions } from './server-timeouts';
import { setupConsole } from './console/console.setup';

export interface StartOptions {
  readonly config: Config;
  readonly clock?: Clock;
  /** Nest logger, or log levels; tests pass a capturing logger. */
  readonly logger?: LoggerService | LogLevel[] | false;
}

export interface RunningService {
  readonly url: string;
  readonly port: number;
  readonly app: NestFastifyApplication;
  readonly database: OpenedDatabase;
  /** Graceful stop: no new connections, in-flight calls finish, usage flushed, pool and database closed. */
  close(): Promise<void>;
}

export async function startService(opts: StartOptions): Promise<RunningService> {
  const { config } = opts;
  const clock = opts.clock ?? new SystemClock();
  const database = await openDatabase(config.database);
  let app: NestFastifyApplication | undefined;
  try {
    const metrics = new MetricsService(config);
    // One node:http server: FRS paths go to the raw proxy listener (set once Nest has built the
    // ProxyService), the rest to Fastify. The server settings Fastify would apply to a server it
    // made are applied here from the same options.
    const raw: { proxy?: RequestListener } = {};
    const serverFactory: FastifyServerFactory = (fastifyHandler, fastifyOptions) => {
      const options = fastifyOptions as { http?: ServerOptions; keepAliveTimeout?: number; requestTimeout?: number; connectionTimeout?: number };
      const server = createServer(options.http ?? {}, (req, res) => {
        if (raw.proxy !== undefined && isProxied(req)) raw.proxy(req, res);
        else fastifyHandler(req, res);
      });
      if (options.keepAliveTimeout !== undefined) server.keepAliveTimeout = options.keepAliveTimeout;
      if (options.requestTimeout !== undefined) server.requestTimeout = options.requestTimeout;
      if (options.connectionTimeout !== undefined) server.setTimeout(options.connectionTimeout);
      return server as Server;
    };
    app = await NestFactory.create<NestFastifyApplication>(
      AppModule.forRoot({ config, clock, metrics, dataSource: database.dataSource }),
      new FastifyAdapter({
        bodyLimit: 1024 * 1024,
        logger: false,
        return503OnClosing: true,
        serverFactory,
        ...serverTimeoutOptions(config.server, Math.max(config.limits.mediaBodyBytes, config.limits.otherBodyBytes), metrics),
      }),
      { logger: opts.logger ?? ['log', 'warn', 'error'], abortOnError: false },
    );
    // While stopping, every answer closes its connection: a keep-alive socket that turns idle
    // after the stop began would otherwise hold the server open until its keep-alive timeout.
    let stopping = false;
    const fastify = app.getHttpAdapter().getInstance();
    guardBodyRate(fastify, config.server, metrics);
    fastify.addHook('onSend', async (_req, reply) => {
      if (stopping) reply.header('connection', 'close');
    });
    await setupConsole(app, config, clock);
    raw.proxy = proxyListener(app.get(ProxyService), () => stopping, bodyRateWatcher(config.server, metrics));
    await app.listen(config.server.port, config.server.host);
    const address = app.getHttpServer().address() as { port: number };
    const host = config.server.host === '0.0.0.0' || config.server.host === '::' ? '127.0.0.1' : config.server.host;
    const running = app;
    let closing: Promise<void> | undefined;
    return {
      url: `http://${host}:${address.port}`,
      port: address.port,
      app: running,
      database,
      close() {
        closing ??= (async () => {
          stopping = true;
          // Proxied answers in flight were sent keep-alive; close each connection as soon as it
          // turns idle, so none holds the stop open until its keep-alive timeout.
          const server = running.getHttpServer() as Server;
          const sweep = setInterval(() => server.closeIdleConnections(), 50);
          try {
            await running.close();
          } finally {
            clearInterval(sweep);
          }
          await database.close();
        })();
        return closing;
      },
    };
  } catch (err) {
    await app?.close().catch(() => undefined);
    await database.close();
    throw err;
  }
}
