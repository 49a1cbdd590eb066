// Wires the console into Fastify before Nest starts listening: the cookie plugin (signing key
// from FRS_METER_SECRET_KEY), and one onRequest hook that is the console's only door: pages
// without a valid session redirect to the login form, its data endpoints answer 401. The hook
// also reads the session for /admin GET requests, so the console's CSV links download exactly
// what `?format=csv` answers (read-only; see AdminAuthGuard).

import fastifyCookie from '@fastify/cookie';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/config';
import type { Clock } from '../common/clock';
import { meterError } from '../admin/meter-error';
import { ConsoleSession, readSession, SESSION_COOKIE, sessionSecret } from './console-session';

/** Paths anyone may open: the login form and the static files it needs. */
const PUBLIC = new Set(['/console/login', '/console/logout']);

export type WithConsoleSession = FastifyRequest & { consoleSession?: ConsoleSession };

/** Security headers of every console answer: nothing from another origin, no framing, no caching. */
export const CONSOLE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
});

export async function setupConsole(app: NestFastifyApplication, config: Config, clock: Clock): Promise<void> {
  await app.register(fastifyCookie, { secret: sessionSecret(config), hook: 'onRequest' });
  const fastify = app.getHttpAdapter().getInstance() as unknown as FastifyInstance;
  fastify.addHook('onRequest', async (req: WithConsoleSession, reply: FastifyReply) => {
    const path = req.url.split('?', 1)[0];
    const isConsole = path === '/console' || path.startsWith('/console/');
    if (!isConsole && !(path.startsWith('/admin/') && req.headers.cookie)) return;
    req.consoleSession = sessionOf(fastify, config, clock, req.headers.cookie);
    if (!isConsole) return;
    for (const [k, v] of Object.entries(CONSOLE_HEADERS)) reply.header(k, v);
    if (PUBLIC.has(path) || path.startsWith('/console/static/') || req.consoleSession) return;
    if (path.startsWith('/console/data/')) {
      return reply.code(401).header('cache-control', 'no-store').send(meterError('METER.0401', 'No console session: log in at /console/login'));
    }
    return reply.code(303).header('location', '/console/login').header('cache-control', 'no-store').send();
  });
}

function sessionOf(fastify: FastifyInstance, config: Config, clock: Clock, header: string | undefined): ConsoleSession | undefined {
  if (!header) return undefined;
  const raw = fastify.parseCookie(header)[SESSION_COOKIE];
  if (!raw) return undefined;
  const unsigned = fastify.unsignCookie(raw);
  return unsigned.valid && unsigned.value ? readSession(config, unsigned.value, clock.now()) : undefined;
}
