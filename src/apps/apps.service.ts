// Who called: apps registered through the admin API authenticate with `X-Auth-Token: <api key>`
// or an SDK-HMAC-SHA256 signature made with their AK/SK, as an FRS client already does. The hot
// path looks credentials up in memory; the cache is refreshed from Postgres every few seconds
// (other replicas' changes), at once for changes made through this replica, and — at most once
// per FRS_METER_APP_RELOAD_INTERVAL_MS however many calls ask — when a credential is unknown.
// A signed call's body must be the one it was signed with: the declared X-Sdk-Content-Sha256
// is checked against the SHA-256 of the bytes received.

import { ConflictException, Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { CONFIG, Config, isBillable } from '../config/config';
import { Clock } from '../common/clock';
import { MetricsService } from '../metrics/metrics.service';
import { BILLABLE_OPERATION_NAMES } from '../frs/operations';
import { EMPTY_BODY_SHA256, PATH_ENCODINGS, sha256Hex, verifySignature } from '../frs/signer';
import { badRequest, meterError, notFound } from '../admin/meter-error';
import { AppRow, AppsRepository } from './apps.repository';
import { SecretBox } from './secret-box';

export interface CreatedApp {
  readonly name: string;
  readonly api_key: string;
  readonly access_key: string;
  readonly secret_key: string;
  readonly created_at: string;
}

export interface AppInfo {
  readonly name: string;
  readonly access_key: string;
  readonly api_key_hint: string;
  readonly created_at: string;
}

/** What authentication of one request found; `bodySha256` is reused to re-sign upstream. */
export interface Authenticated {
  readonly app: string;
  readonly bodySha256?: string;
}

/** Credentials of a known app that do not hold for this request; `refused` is the 401 message. */
export interface Refused {
  readonly refused: string;
}

/**
 * The request body as authentication sees it: its length, and its SHA-256, asked for only when a
 * signature needs it (an X-Auth-Token call never hashes). The proxy may feed a hash it computed
 * while the body streamed in.
 */
export interface ReceivedBody {
  readonly length: number;
  sha256(): string;
}

/**
 * A ReceivedBody over bytes in memory; the hash is computed once, on first use, unless the
 * proxy already computed it chunk by chunk while the body arrived (`sha256`).
 */
export function receivedBody(bytes: Buffer | undefined, sha256?: string): ReceivedBody {
  let hash: string | undefined = sha256;
  const length = bytes?.length ?? 0;
  return { length, sha256: () => (hash ??= length > 0 ? sha256Hex(bytes as Buffer) : EMPTY_BODY_SHA256) };
}

const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

export const APP_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const AK_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function isMultipart(contentType: string | undefined): boolean {
  return contentType !== undefined && contentType.trimStart().toLowerCase().startsWith('multipart/form-data');
}

function hashKey(key: string): string {
  return sha256Hex(key);
}

function randomAk(): string {
  const bytes = randomBytes(20);
  let out = '';
  for (const b of bytes) out += AK_ALPHABET[b % AK_ALPHABET.length];
  return out;
}

type HeaderBag = Record<string, string | string[] | undefined>;

@Injectable()
export class AppsService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Apps');
  private readonly box: SecretBox;
  private byKeyHash = new Map<string, string>();
  private byAccessKey = new Map<string, { app: string; sk: string }>();
  private rows: AppRow[] = [];
  private timer?: NodeJS.Timeout;
  private lastRefreshAt = 0;
  private refreshing?: Promise<void>;
  private readonly reloadIntervalMs: number;
  private stopListening?: () => Promise<void>;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly repo: AppsRepository,
    private readonly clock: Clock,
    private readonly metrics: MetricsService,
  ) {
    this.box = new SecretBox(config.auth.secretKey);
    this.reloadIntervalMs = config.auth.appReloadIntervalMs;
  }

  async onModuleInit(): Promise<void> {
    await this.refresh();
    // Pushed: a change on any replica re-reads the cache here within milliseconds.
    this.stopListening = await this.repo.listen(() => void this.reload(), this.logger);
    // Polled as well, for a change whose announcement a dropped listener missed.
    this.timer = setInterval(() => void this.reload(), 5_000);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.stopListening?.();
  }

  /** One re-read at a time, shared by everyone who asks meanwhile (single-flight). */
  private reload(): Promise<void> {
    this.refreshing ??= this.refresh()
      .catch((err) => this.logger.warn(`app cache refresh failed (serving from memory): ${(err as Error).message}`))
      .finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  async refresh(): Promise<void> {
    // Monotonic, not the injected clock: this paces database load in real time, and a test's
    // frozen or jumping business clock must not stop or flood the reloads.
    this.lastRefreshAt = performance.now();
    const rows = await this.repo.live();
    const byKeyHash = new Map<string, string>();
    const byAccessKey = new Map<string, { app: string; sk: string }>();
    for (const row of rows) {
      byKeyHash.set(row.api_key_hash, row.name);
      try {
        byAccessKey.set(row.access_key, { app: row.name, sk: this.box.open(row.secret_key_enc) });
      } catch {
        this.logger.error(`app ${row.name}: its secret key cannot be decrypted with FRS_METER_SECRET_KEY; AK/SK calls of this app will be refused`);
      }
      if (!this.byKeyHash.has(row.api_key_hash)) this.precreate(row.name);
    }
    this.rows = rows;
    this.byKeyHash = byKeyHash;
    this.byAccessKey = byAccessKey;
  }

  private async announce(name: string): Promise<void> {
    // The change is stored: a lost announcement only delays other replicas until their next poll.
    await this.repo.announceChange(name).catch((err) => this.logger.warn(`could not announce the change of app ${name}: ${(err as Error).message}`));
  }

  private precreate(app: string): void {
    this.metrics.precreateApp(app, BILLABLE_OPERATION_NAMES.filter((o) => isBillable(this.config, o)));
  }

  async create(name: unknown): Promise<CreatedApp> {
    if (typeof name !== 'string' || !APP_NAME_RE.test(name)) {
      throw badRequest('name is required: 1-63 characters of letters, digits, "_", "-" or ".", starting with a letter or digit');
    }
    const apiKey = `frsm_${randomBytes(32).toString('base64url')}`;
    const accessKey = randomAk();
    const secretKey = randomBytes(30).toString('base64url');
    const row = await this.repo.insert({
      name,
      api_key_hash: hashKey(apiKey),
      api_key_hint: apiKey.slice(-4),
      access_key: accessKey,
      secret_key_enc: this.box.seal(secretKey),
    });
    if (!row) {
      throw new ConflictException(
        meterError('METER.0409', `an app named ${name} exists or existed: app names are never reused, so usage and chargeback of a deleted app stay its own; choose another name`),
      );
    }
    await this.refresh();
    await this.announce(name);
    return { name, api_key: apiKey, access_key: accessKey, secret_key: secretKey, created_at: new Date(row.created_at).toISOString() };
  }

  list(): AppInfo[] {
    return this.rows.map((r) => ({ name: r.name, access_key: r.access_key, api_key_hint: `…${r.api_key_hint}`, created_at: new Date(r.created_at).toISOString() }));
  }

  async listFresh(): Promise<AppInfo[]> {
    await this.refresh();
    return this.list();
  }

  async remove(name: string): Promise<void> {
    if (!(await this.repo.markDeleted(name))) throw notFound(`no app named ${name}`);
    await this.refresh();
    await this.announce(name);
  }

  /**
   * Identifies the calling app from `X-Auth-Token` or an SDK-HMAC-SHA256 signature over the
   * request as received. Undefined when the credential is unknown (an API key or access key this
   * cache does not hold); Refused when it belongs to an app but does not hold for this request
   * (wrong signature, stale date, or a body other than the one signed).
   *
   * The API key is looked up by its SHA-256 (~1 µs), as stored: a map from the raw key would
   * save that but keep every client's credential in memory for the life of the process.
   */
  authenticate(method: string, path: string, query: string, headers: HeaderBag, body: ReceivedBody): Authenticated | Refused | undefined {
    const token = headers['x-auth-token'];
    if (typeof token === 'string' && token !== '') {
      const app = this.byKeyHash.get(hashKey(token));
      return app === undefined ? undefined : { app };
    }
    const authorization = headers.authorization;
    if (typeof authorization !== 'string' || authorization === '') return undefined;
    const flat: Record<string, string> = {};
    for (const k of Object.keys(headers)) {
      const v = headers[k];
      if (v !== undefined) flat[k] = Array.isArray(v) ? v.join(',') : v;
    }
    const declared = flat['x-sdk-content-sha256']?.trim();
    const result = verifySignature(
      // Without the header the signature covers the real body's hash, so it is checked by the signature itself.
      { method, path, query, headers: flat, bodySha256Hex: declared === undefined ? body.sha256() : undefined },
      (ak) => this.byAccessKey.get(ak)?.sk,
      new Date(this.clock.now()),
      this.config.auth.maxClockSkewSeconds,
      // Apps may sign either path form: the Node SDK encodes an encoded face-set name again.
      PATH_ENCODINGS,
    );
    if (!result.ok) {
      if (result.reason === 'unknown access key') return undefined;
      return { refused: `Invalid application signature: ${result.reason}` };
    }
    const found = this.byAccessKey.get(result.accessKey);
    if (!found) return undefined;
    if (declared === undefined) return { app: found.app, bodySha256: body.sha256() };
    if (declared === UNSIGNED_PAYLOAD) {
      if (body.length === 0 || this.config.auth.clientUnsignedPayload === 'allow' || isMultipart(flat['content-type'])) return { app: found.app };
      return {
        refused:
          'X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD is accepted only for multipart/form-data uploads: sign the body (its SHA-256 in X-Sdk-Content-Sha256, or no such header)',
      };
    }
    if (!SHA256_HEX.test(declared)) return { refused: 'X-Sdk-Content-Sha256 must be the hex SHA-256 of the body or UNSIGNED-PAYLOAD' };
    // The signature covers the declared hash, not the bytes: without this check one captured
    // request would carry any other body, billed to its app, for as long as its date is fresh.
    const actual = body.sha256();
    if (declared.toLowerCase() !== actual) {
      return { refused: 'Request body does not match its signature: X-Sdk-Content-Sha256 is not the SHA-256 of the body received' };
    }
    return { app: found.app, bodySha256: actual };
  }

  /**
   * Second chance for credentials the cache does not know: an app created a moment ago on
   * another replica whose announcement has not arrived (or whose listener is down). A caller
   * waits for a re-read in flight (the announced one included); otherwise the cache is re-read
   * at most once per reload interval, by one query shared by every caller that arrives meanwhile
   * (single-flight), and a caller that comes when it was re-read less than an interval ago is
   * refused from memory at once. So a flood of bad keys costs one query per interval, and a new
   * app is recognised at once when announced, within one interval when not.
   */
  async authenticateAfterRefresh(method: string, path: string, query: string, headers: HeaderBag, body: ReceivedBody): Promise<Authenticated | Refused | undefined> {
    if (!this.refreshing) {
      if (performance.now() - this.lastRefreshAt < this.reloadIntervalMs) return undefined;
      void this.reload();
    }
    // Never hold a caller long, even when the database is slow or away.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.refreshing, new Promise((r) => (timer = setTimeout(r, 1_000)))]);
    clearTimeout(timer);
    return this.authenticate(method, path, query, headers, body);
  }

  /** Cheap pre-body identification for early rejections (413): API key only. */
  appForToken(headers: HeaderBag): string | undefined {
    const token = headers['x-auth-token'];
    return typeof token === 'string' ? this.byKeyHash.get(hashKey(token)) : undefined;
  }
}
