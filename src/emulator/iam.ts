// IAM password-token emulation (reference/frs-api.md §5.1): POST /v3/auth/tokens answers 201
// with the token in X-Subject-Token; FRS routes then accept it in X-Auth-Token until it expires.
// Expiry follows the emulator clock, so tests move time instead of waiting 24 hours.

import { createHash, randomBytes } from 'node:crypto';
import { isRecord } from './validation';

export interface IamUser {
  domainName: string;
  username: string;
  password: string;
}

export interface TokenGrant {
  username: string;
  domainName: string;
  userId: string;
  domainId: string;
  /** Set for project-scoped tokens (what FRS needs); undefined for domain scope (what BSS needs). */
  projectId?: string;
  projectName?: string;
  issuedAt: Date;
  expiresAt: Date;
}

export type TokenCheck = { ok: true; grant: TokenGrant } | { ok: false; expired: boolean };

export interface IamReply {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** Expired tokens are remembered this long, so a late caller is told "expired", not "unknown". */
const KEEP_EXPIRED_MS = 24 * 3600 * 1000;
const MAX_TOKENS = 10_000;

/** Stable ids derived from names, shaped like Huawei's 32-hex ids. */
export function derivedId(kind: string, name: string): string {
  return createHash('sha256').update(`${kind}:${name}`).digest('hex').slice(0, 32);
}

/** IAM timestamps carry microseconds: `2020-01-04T09:05:22.701000Z`. */
function iamTime(d: Date): string {
  return d.toISOString().replace('Z', '000Z');
}

function iamError(status: number, title: string, message: string): IamReply {
  return { status, headers: {}, body: { error: { code: status, title, message } } };
}

export class IamEmulator {
  private readonly tokens = new Map<string, TokenGrant>();

  constructor(
    private readonly users: readonly IamUser[],
    private readonly lifetimeSeconds: number,
    private readonly now: () => Date,
  ) {}

  /** POST /v3/auth/tokens with a password identity and a project or domain scope. */
  handleTokenRequest(body: Buffer, query: URLSearchParams): IamReply {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return iamError(400, 'Bad Request', 'The request body is not valid JSON.');
    }
    const auth = isRecord(parsed) && isRecord(parsed.auth) ? parsed.auth : undefined;
    const identity = auth && isRecord(auth.identity) ? auth.identity : undefined;
    const methods = identity?.methods;
    if (!identity || !Array.isArray(methods) || !methods.includes('password')) {
      return iamError(400, 'Bad Request', 'auth.identity.methods must include "password".');
    }
    const user = isRecord(identity.password) && isRecord(identity.password.user) ? identity.password.user : undefined;
    const domain = user && isRecord(user.domain) ? user.domain : undefined;
    if (!user || typeof user.name !== 'string' || typeof user.password !== 'string' || !domain || typeof domain.name !== 'string') {
      return iamError(400, 'Bad Request', 'auth.identity.password.user needs name, password and domain.name.');
    }
    const known = this.users.find((u) => u.username === user.name && u.domainName === domain.name && u.password === user.password);
    if (!known) return iamError(401, 'Unauthorized', 'The username or password is wrong.');

    const scope = isRecord(auth?.scope) ? auth.scope : undefined;
    let projectId: string | undefined;
    let projectName: string | undefined;
    if (scope && isRecord(scope.project)) {
      const { id, name } = scope.project;
      if (typeof id !== 'string' && typeof name !== 'string') return iamError(400, 'Bad Request', 'auth.scope.project needs id or name.');
      projectName = typeof name === 'string' ? name : undefined;
      projectId = typeof id === 'string' ? id : derivedId('project', name as string);
    } else if (scope && !isRecord(scope.domain)) {
      return iamError(400, 'Bad Request', 'auth.scope must be {project: {id|name}} or {domain: {id|name}}.');
    }

    const { token, grant } = this.issue({ username: known.username, domainName: known.domainName, projectId, projectName });
    const domainRef = { id: grant.domainId, name: grant.domainName };
    const tokenBody: Record<string, unknown> = {
      expires_at: iamTime(grant.expiresAt),
      issued_at: iamTime(grant.issuedAt),
      methods: ['password'],
      user: { id: grant.userId, name: grant.username, domain: domainRef, password_expires_at: '' },
      roles: [{ id: '0', name: 'op_fine_grained' }],
    };
    if (projectId !== undefined) tokenBody.project = { id: projectId, name: projectName ?? projectId, domain: domainRef };
    else tokenBody.domain = domainRef;
    if (query.get('nocatalog') !== 'true') tokenBody.catalog = [];
    return { status: 201, headers: { 'X-Subject-Token': token }, body: { token: tokenBody } };
  }

  /** Issues a token directly (tests, or a plugin that needs one) without the HTTP round trip. */
  issue(opts: { username?: string; domainName?: string; projectId?: string; projectName?: string; lifetimeSeconds?: number } = {}): {
    token: string;
    grant: TokenGrant;
  } {
    this.purge();
    const issuedAt = this.now();
    const username = opts.username ?? this.users[0]?.username ?? 'emulator';
    const domainName = opts.domainName ?? this.users[0]?.domainName ?? 'emulator';
    const grant: TokenGrant = {
      username,
      domainName,
      userId: derivedId('user', `${domainName}/${username}`),
      domainId: derivedId('domain', domainName),
      projectId: opts.projectId,
      projectName: opts.projectName,
      issuedAt,
      expiresAt: new Date(issuedAt.getTime() + (opts.lifetimeSeconds ?? this.lifetimeSeconds) * 1000),
    };
    // Real tokens are several KB of base64; length matters to header-size limits in proxies.
    const token = 'MII' + randomBytes(1536).toString('base64url');
    this.tokens.set(token, grant);
    return { token, grant };
  }

  check(token: string): TokenCheck {
    const grant = this.tokens.get(token);
    if (!grant) return { ok: false, expired: false };
    if (this.now().getTime() >= grant.expiresAt.getTime()) return { ok: false, expired: true };
    return { ok: true, grant };
  }

  private purge(): void {
    const cutoff = this.now().getTime() - KEEP_EXPIRED_MS;
    for (const [token, grant] of this.tokens) {
      if (grant.expiresAt.getTime() < cutoff || this.tokens.size >= MAX_TOKENS) this.tokens.delete(token);
    }
  }
}
