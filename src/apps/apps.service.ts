// Who called: apps registered through the admin API authenticate with `X-Auth-Token: <api key>`
// or an SDK-HMAC-SHA256 signature made with their AK/SK, as an FRS client already does. The hot
// path looks credentials up in memory; the cache is refreshed from Postgres every few seconds
// (other replicas' changes) and at once for changes made through this replica.

import { ConflictException, Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { CONFIG, Config, isBillable } from '../config/config';
import { Clock } from '../common/clock';
import { MetricsService } from '../metrics/metrics.service';
import { BILLABLE_OPERATION_NAMES } from '../frs/operations';
import { EMPTY_BODY_SHA256, sha256Hex, verifySignature } from '../frs/signer';
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

export const APP_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const AK_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
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

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly repo: AppsRepository,
    private readonly clock: Clock,
    private readonly metrics: MetricsService,
  ) {
    this.box = new SecretBox(config.auth.secretKey);
  }

  async onModuleInit(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => {
      this.refresh().catch((err) => this.logger.warn(`app cache refresh failed (serving from memory): ${(err as Error).message}`));
    }, 5_000);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    this.lastRefreshAt = Date.now();
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
    if (!row) throw new ConflictException(meterError('METER.0409', `an app named ${name} exists already`));
    await this.refresh();
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
  }

  /**
   * Identifies the calling app from `X-Auth-Token` or an SDK-HMAC-SHA256 signature over the
   * request as received. Undefined when neither is valid.
   */
  authenticate(method: string, path: string, query: string, headers: HeaderBag, body: Buffer | undefined): Authenticated | undefined {
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
    const bodySha256 = body && body.length > 0 ? sha256Hex(body) : EMPTY_BODY_SHA256;
    const result = verifySignature(
      { method, path, query, headers: flat, bodySha256Hex: flat['x-sdk-content-sha256'] ? undefined : bodySha256 },
      (ak) => this.byAccessKey.get(ak)?.sk,
      new Date(this.clock.now()),
      this.config.auth.maxClockSkewSeconds,
    );
    if (!result.ok) return undefined;
    const found = this.byAccessKey.get(result.accessKey);
    return found ? { app: found.app, bodySha256 } : undefined;
  }

  /**
   * Second chance for credentials the cache does not know: an app created a moment ago on
   * another replica. The cache is re-read at most once a second, shared by every caller waiting
   * for it, so a flood of bad keys costs one query a second, not one per call.
   */
  async authenticateAfterRefresh(method: string, path: string, query: string, headers: HeaderBag, body: Buffer | undefined): Promise<Authenticated | undefined> {
    if (!this.refreshing) {
      const wait = Math.max(0, this.lastRefreshAt + 1_000 - Date.now());
      this.refreshing = new Promise<void>((r) => setTimeout(r, wait))
        .then(() => this.refresh())
        .catch(() => undefined)
        .finally(() => (this.refreshing = undefined));
    }
    // Never hold a caller long, even when the database is slow or away.
    await Promise.race([this.refreshing, new Promise((r) => setTimeout(r, 1_500).unref())]);
    return this.authenticate(method, path, query, headers, body);
  }

  /** Cheap pre-body identification for early rejections (413): API key only. */
  appForToken(headers: HeaderBag): string | undefined {
    const token = headers['x-auth-token'];
    return typeof token === 'string' ? this.byKeyHash.get(hashKey(token)) : undefined;
  }
}
