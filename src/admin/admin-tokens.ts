// The two admin token scopes: FRS_METER_ADMIN_TOKEN may change everything, each of
// FRS_METER_READONLY_TOKENS may read every report and export but change nothing. Shared by the
// admin guard and the console login, so both decide the same way.

import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config/config';

export type TokenScope = 'admin' | 'readonly';

/** Who made an admin call: the token's scope and its fingerprint (never the token itself). */
export interface AdminActor {
  readonly scope: TokenScope;
  readonly fingerprint: string;
}

interface Known {
  readonly digest: Buffer;
  readonly scope: TokenScope;
}

export class AdminTokens {
  private readonly known: Known[];
  private readonly fingerprintKey: Buffer;

  constructor(auth: Config['auth']) {
    this.known = [];
    if (auth.adminToken) this.known.push({ digest: digest(auth.adminToken), scope: 'admin' });
    for (const t of auth.readonlyTokens) this.known.push({ digest: digest(t), scope: 'readonly' });
    // Keyed, so a read-only user who sees fingerprints in the audit trail cannot test guesses
    // of a short admin token against them offline.
    this.fingerprintKey = Buffer.from(hkdfSync('sha256', auth.secretKey, 'frs-meter', 'admin-token-fingerprint', 32));
  }

  /** True when at least one token is configured; otherwise the admin API is closed. */
  get open(): boolean {
    return this.known.length > 0;
  }

  get hasAdmin(): boolean {
    return this.known.some((k) => k.scope === 'admin');
  }

  /**
   * The scope of `token`, or undefined when it is none of ours. Every configured token is
   * compared, in constant time over equal-length digests, so neither the match position nor
   * the token's length shows in the answer time.
   */
  scope(token: string | undefined): TokenScope | undefined {
    if (!token) return undefined;
    const given = digest(token);
    let found: TokenScope | undefined;
    for (const k of this.known) {
      if (timingSafeEqual(given, k.digest) && found === undefined) found = k.scope;
    }
    return found;
  }

  /** A stable, non-reversible name for a token: 16 hex digits of an HMAC under FRS_METER_SECRET_KEY. */
  fingerprint(token: string): string {
    return createHmac('sha256', this.fingerprintKey).update(token).digest('hex').slice(0, 16);
  }

  /** The actor for a token, or undefined when the token is not ours. */
  actor(token: string | undefined): AdminActor | undefined {
    const scope = this.scope(token);
    return scope && token ? { scope, fingerprint: this.fingerprint(token) } : undefined;
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

const byConfig = new WeakMap<Config['auth'], AdminTokens>();

/** The token set of a configuration, built once. */
export function adminTokens(config: Config): AdminTokens {
  let t = byConfig.get(config.auth);
  if (!t) {
    t = new AdminTokens(config.auth);
    byConfig.set(config.auth, t);
  }
  return t;
}

/** 'admin', 'readonly' or undefined: what a login or bearer token may do (the console uses this). */
export function tokenScope(config: Config, token: string | undefined): TokenScope | undefined {
  return adminTokens(config).scope(token);
}

/** The token of an `Authorization: Bearer …` header, or '' when there is none. */
export function bearerToken(header: string | string[] | undefined): string {
  const h = Array.isArray(header) ? header[0] : header;
  return h !== undefined && h.startsWith('Bearer ') ? h.slice(7).trim() : '';
}
