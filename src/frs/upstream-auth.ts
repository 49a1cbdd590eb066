// Credentials frs-meter presents upstream (reference/frs-api.md §5): either every call re-signed
// with our AK/SK (SDK-HMAC-SHA256), or a managed IAM token — fetched once, cached, refreshed
// before it expires, and refreshed at once when FRS rejects it.

import { Inject, Injectable, Logger } from '@nestjs/common';
import { request } from 'undici';
import { CONFIG, Config } from '../config/config';
import { Clock } from '../common/clock';
import { HmacSha256Key, SIGNING_ALGORITHM, canonicalQuery, canonicalUri, sdkDateAt, stringToSign } from './signer';

interface CachedToken {
  readonly value: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

@Injectable()
export class UpstreamAuth {
  private readonly logger = new Logger('UpstreamAuth');
  private readonly host: string;
  /** AK/SK signing pieces that never change between calls, computed once at start. */
  private readonly signing?: {
    readonly key: HmacSha256Key;
    readonly authPrefix: string;
    readonly hostLine: string;
    readonly unsignedLine: string;
  };
  /** Canonical URIs of recent paths: paths repeat (project, face set), the escaping need not. */
  private readonly uris = new Map<string, string>();
  private token?: CachedToken;
  private refreshing?: Promise<CachedToken>;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly clock: Clock,
  ) {
    this.host = config.upstream.endpoint ? new URL(config.upstream.endpoint).host : '';
    const auth = config.upstream.auth;
    if (auth.kind === 'aksk') {
      this.signing = {
        key: new HmacSha256Key(auth.sk),
        authPrefix: `${SIGNING_ALGORITHM} Access=${auth.ak}, SignedHeaders=`,
        hostLine: `host:${this.host}\n`,
        unsignedLine: 'x-sdk-content-sha256:UNSIGNED-PAYLOAD\n',
      };
    }
  }

  get mode(): 'aksk' | 'iam' {
    return this.config.upstream.auth.kind;
  }

  /** Whether `apply` needs the body's SHA-256 (AK/SK with the body signed). */
  get needsBodyHash(): boolean {
    return this.config.upstream.auth.kind === 'aksk' && this.config.upstream.signBody;
  }

  /**
   * Adds the upstream credentials to `headers` (lower-case names, as sent). For AK/SK the
   * signature covers host, content-type, x-project-id and x-sdk-date, and either the body hash
   * given (FRS_METER_SIGN_BODY=on) or `X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD` (the default).
   * Same bytes as `signRequest` (signer.spec.ts checks it), built from precomputed pieces.
   */
  apply(method: string, path: string, query: string, headers: Record<string, string>, bodySha256: string): void | Promise<void> {
    const s = this.signing;
    if (s !== undefined) {
      const date = sdkDateAt(this.clock.now());
      const contentType = headers['content-type'];
      const project = headers['x-project-id'];
      const unsigned = !this.config.upstream.signBody;
      if (unsigned) headers['x-sdk-content-sha256'] = 'UNSIGNED-PAYLOAD';
      // Signed header names in sorted order: content-type < host < x-project-id < x-sdk-content-sha256 < x-sdk-date.
      let names = contentType !== undefined ? 'content-type;host' : 'host';
      let block = contentType !== undefined ? `content-type:${contentType.trim()}\n${s.hostLine}` : s.hostLine;
      if (project !== undefined) {
        names += ';x-project-id';
        block += `x-project-id:${project.trim()}\n`;
      }
      if (unsigned) {
        names += ';x-sdk-content-sha256';
        block += s.unsignedLine;
      }
      names += ';x-sdk-date';
      block += `x-sdk-date:${date}\n`;
      const canonical = `${method.toUpperCase()}\n${this.canonicalUri(path)}\n${canonicalQuery(query)}\n${block}\n${names}\n${unsigned ? 'UNSIGNED-PAYLOAD' : bodySha256}`;
      headers['x-sdk-date'] = date;
      headers.authorization = `${s.authPrefix}${names}, Signature=${s.key.hex(stringToSign(canonical, date))}`;
      return;
    }
    return this.currentToken().then((t) => {
      headers['x-auth-token'] = t.value;
    });
  }

  private canonicalUri(path: string): string {
    let uri = this.uris.get(path);
    if (uri === undefined) {
      uri = canonicalUri(path, this.config.upstream.pathEncoding);
      if (this.uris.size >= 1024) this.uris.clear();
      this.uris.set(path, uri);
    }
    return uri;
  }

  /** FRS said the credentials are expired or revoked: drop the cached token so the next call fetches one. */
  invalidate(): void {
    if (this.config.upstream.auth.kind === 'iam') this.token = undefined;
  }

  private async currentToken(): Promise<CachedToken> {
    const t = this.token;
    const auth = this.config.upstream.auth;
    if (t && auth.kind === 'iam') {
      // Refresh ahead of expiry: the configured margin, but never more than a fifth of the
      // token's life (short-lived tokens in tests would otherwise be refreshed on every call).
      const margin = Math.min(auth.refreshMarginSeconds * 1000, (t.expiresAt - t.issuedAt) / 5);
      if (this.clock.now() < t.expiresAt - margin) return t;
    }
    if (!this.refreshing) {
      this.refreshing = this.fetchToken().finally(() => (this.refreshing = undefined));
    }
    return this.refreshing;
  }

  private async fetchToken(): Promise<CachedToken> {
    const auth = this.config.upstream.auth;
    if (auth.kind !== 'iam') throw new Error('no IAM credentials configured');
    const base = auth.endpoint.replace(/\/v3\/?$/, '');
    const scope = this.config.upstream.projectId ? { project: { id: this.config.upstream.projectId } } : { domain: { name: auth.domainName } };
    const body = JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: auth.username, password: auth.password, domain: { name: auth.domainName } } } },
        scope,
      },
    });
    const issuedAt = this.clock.now();
    const res = await request(`${base}/v3/auth/tokens?nocatalog=true`, {
      method: 'POST',
      headers: { 'content-type': 'application/json;charset=utf8' },
      body,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    const text = await res.body.text();
    const value = res.headers['x-subject-token'];
    if (res.statusCode !== 201 || typeof value !== 'string') {
      // The IAM error body carries no secret; the request body (with the password) is never logged.
      throw new Error(`IAM token request failed with HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
    }
    let expiresAt = issuedAt + 24 * 3600 * 1000;
    try {
      const parsed = JSON.parse(text) as { token?: { expires_at?: string } };
      if (parsed.token?.expires_at) expiresAt = Date.parse(parsed.token.expires_at);
    } catch {
      this.logger.warn('IAM token response had no readable expires_at; assuming 24 h');
    }
    this.token = { value, issuedAt, expiresAt };
    return this.token;
  }
}
