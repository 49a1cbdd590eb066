// Console sessions: a login with the admin token or a read-only token sets one cookie that is
// signed (HMAC-SHA256 through @fastify/cookie), expires, and names the token only by its
// fingerprint. Every request checks the signature, the expiry and that the fingerprint still
// belongs to a configured token of that scope, so removing a token from the configuration ends
// its sessions. The token itself is never stored, put in a URL or logged.

import { hkdfSync } from 'node:crypto';
import type { Config } from '../config/config';
import { adminTokens, TokenScope, tokenScope } from '../admin/admin-tokens';

export const SESSION_COOKIE = 'frs_console';
/** A working day; finance logs in again the next morning. */
export const SESSION_TTL_SECONDS = 8 * 3600;

export interface ConsoleSession {
  readonly scope: TokenScope;
  /** Fingerprint of the token the session was opened with (what the audit trail shows). */
  readonly fingerprint: string;
  /** Unix seconds. */
  readonly expiresAt: number;
}

/** The cookie signing key: derived from FRS_METER_SECRET_KEY, so every replica accepts the same cookie. */
export function sessionSecret(config: Config): string {
  return Buffer.from(hkdfSync('sha256', config.auth.secretKey, 'frs-meter', 'console-session-cookie', 32)).toString('base64');
}

/** The cookie value (before signing) for a token, or undefined when the token is none of ours. */
export function openSession(config: Config, token: string, nowMs: number): { value: string; session: ConsoleSession } | undefined {
  const scope = tokenScope(config, token);
  if (!scope) return undefined;
  const session: ConsoleSession = { scope, fingerprint: adminTokens(config).fingerprint(token), expiresAt: Math.floor(nowMs / 1000) + SESSION_TTL_SECONDS };
  return { value: `v1.${session.scope}.${session.fingerprint}.${session.expiresAt}`, session };
}

/** The session of an unsigned cookie value, or undefined when expired, malformed or its token is gone. */
export function readSession(config: Config, value: string, nowMs: number): ConsoleSession | undefined {
  const m = /^v1\.(admin|readonly)\.([0-9a-f]{16})\.(\d{1,12})$/.exec(value);
  if (!m) return undefined;
  const session: ConsoleSession = { scope: m[1] as TokenScope, fingerprint: m[2], expiresAt: Number(m[3]) };
  if (session.expiresAt * 1000 <= nowMs) return undefined;
  const still = configuredFingerprints(config).get(session.fingerprint);
  return still === session.scope ? session : undefined;
}

function configuredFingerprints(config: Config): Map<string, TokenScope> {
  const out = new Map<string, TokenScope>();
  for (const token of configuredTokens(config)) {
    const scope = tokenScope(config, token);
    if (scope) out.set(adminTokens(config).fingerprint(token), scope);
  }
  return out;
}

function configuredTokens(config: Config): string[] {
  return [...(config.auth.adminToken ? [config.auth.adminToken] : []), ...config.auth.readonlyTokens];
}
