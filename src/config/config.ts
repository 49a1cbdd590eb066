// The one typed configuration object, read from the environment once at start (SPEC §3).
// Every knob has its default and its reasoning here; README's configuration table mirrors it.

import { Env, EnvReader, ConfigError } from './env';
import { BILLABLE_OPERATION_NAMES, OPERATION_NAMES, OperationName } from '../frs/operations';
import { DEFAULT_OPERATION_MAP, OperationMap, parseOperationMap } from '../billing/operation-map';

export type UpstreamAuth =
  | { readonly kind: 'aksk'; readonly ak: string; readonly sk: string }
  | {
      readonly kind: 'iam';
      readonly endpoint: string;
      readonly domainName: string;
      readonly username: string;
      readonly password: string;
      /** Refresh this long before `expires_at` (tokens live 24 h; a refresh costs one IAM call). */
      readonly refreshMarginSeconds: number;
    };

export type QpsCoordination = 'local' | 'postgres' | 'redis';
export type QpsOverflow = 'wait' | 'pass' | 'reject';

export type CostBucket = 'qps_package' | 'call_package' | 'free_tier' | 'pay_per_use';

export interface Config {
  readonly server: {
    readonly port: number;
    readonly host: string;
    readonly shutdownGraceMs: number;
    /** A client must send its request headers within this (slowloris). */
    readonly headersTimeoutMs: number;
    /**
     * A request body must arrive at `minBodyBytesPerSecond` on average after a grace of
     * `bodyGraceMs`: the bound grows with the body's size, so a 12 MB image on a slow link
     * passes and a body trickling at 1 B/s, or stalled, is cut with 408.
     */
    readonly bodyGraceMs: number;
    readonly minBodyBytesPerSecond: number;
    /** Idle keep-alive client sockets are closed after this: longer than a balancer's idle cut (60 s), so the balancer closes first. */
    readonly keepAliveTimeoutMs: number;
  };
  readonly database: {
    /** External Postgres; undefined means the embedded one under `dataDir`. */
    readonly url?: string;
    readonly dataDir: string;
    /** Port of the embedded server; 0 picks a free one. */
    readonly embeddedPort: number;
    /** Waiting for a pool connection (or a new one to open) gives up after this. */
    readonly connectTimeoutMs: number;
    /** Server-side statement_timeout, and (plus a second) the client-side wait for any answer. */
    readonly statementTimeoutMs: number;
    /** /readyz answers from a state a background probe refreshes this often. */
    readonly readinessIntervalMs: number;
  };
  readonly upstream: {
    readonly endpoint: string;
    /** The project the upstream credentials belong to; when set, the path's project id is replaced by it. */
    readonly projectId?: string;
    readonly auth: UpstreamAuth;
    /** undici Pool size per origin. */
    readonly connections: number;
    /** Idle keep-alive sockets are closed after this, well before the gateway's 300 s cut. */
    readonly keepAliveTimeoutMs: number;
    readonly connectTimeoutMs: number;
    /** Reject self-signed upstream certificates; only turn off for a local emulator on https. */
    readonly tlsRejectUnauthorized: boolean;
    /**
     * Hash the body into the upstream AK/SK signature. Off (the default) sends
     * `X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD`, as the official Python and Go SDKs do for their
     * FRS upload calls, so the gateway honours it; it saves a SHA-256 of every image body, a
     * third of the proxy's CPU in profiles. On, the hash is computed as the body arrives.
     */
    readonly signBody: boolean;
    /** Canonical path form of the upstream signature: 'single' as the Python/Go SDKs and the gateway docs (see signer.ts). */
    readonly pathEncoding: 'single' | 'double';
  };
  readonly limits: {
    /** Image and video operations: FRS takes base64 bodies up to 8 MB. */
    readonly mediaBodyBytes: number;
    /** Every other operation carries small JSON. */
    readonly otherBodyBytes: number;
    /** The API gateway refuses AK/SK-signed bodies over 12 MB. */
    readonly akskBodyBytes: number;
  };
  readonly timeouts: {
    /** Timeout in force = clamp(multiplier × rolling p99, min, max). */
    readonly multiplier: number;
    readonly minSeconds: number;
    readonly maxSeconds: number;
    /** Samples needed in the window before the p99 replaces the per-operation default. */
    readonly minSamples: number;
    readonly windowSeconds: number;
  };
  readonly retry: {
    /** Attempts per request, the first included. */
    readonly maxAttempts: number;
    /** Retries allowed as a share of requests over the last minute. */
    readonly budgetRatio: number;
    /** Retries always allowed per minute, so a quiet service can still retry. */
    readonly budgetMinPerMinute: number;
    readonly backoffBaseMs: number;
    readonly backoffMaxMs: number;
    /**
     * Operations that may be retried after an attempt cut at the timeout or with the connection
     * lost after sending. FRS may have completed (and billed) the first attempt, so each such
     * retry of a billable operation can be billed twice; not retrying answers the client 504/502.
     */
    readonly afterTimeout?: readonly OperationName[];
  };
  readonly auth: {
    readonly adminToken?: string;
    /** Tokens that may read every admin report and export but change nothing (finance, dashboards). */
    readonly readonlyTokens: readonly string[];
    readonly secretKey: string;
    /** Largest accepted difference between X-Sdk-Date and our clock, as the real gateway. */
    readonly maxClockSkewSeconds: number;
    /**
     * `X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD` from apps: 'multipart' accepts it only for
     * multipart/form-data bodies (the official SDKs send it for file uploads) and empty bodies;
     * 'allow' accepts it for any body. Such a signature does not cover the body, so whoever
     * captures the request can send another body under it for the signature's lifetime.
     */
    readonly clientUnsignedPayload: 'multipart' | 'allow';
    /** An unknown credential re-reads the app table at most this often (apps created on another replica). */
    readonly appReloadIntervalMs: number;
  };
  readonly usage: {
    readonly flushIntervalMs: number;
    /** Flush ids older than this are pruned: a replica retries an unconfirmed batch within seconds, or at worst after a database outage this long. */
    readonly flushIdRetentionMs?: number;
    readonly billingTimezone: string;
    readonly freeTierCalls: number;
    readonly freeTierScope: 'per_operation' | 'per_sub_service' | 'per_account';
    readonly freeTierExcluded: readonly OperationName[];
    readonly batchDeleteBillable: boolean;
    readonly drawdownOrder: readonly CostBucket[];
    /** JSON price table for the pay-per-use estimate; none shipped as fact. */
    readonly priceTableFile?: string;
  };
  readonly qps: {
    readonly shaping: boolean;
    /** How long a call may wait for a free slot before it is refused with METER.0429 (default: one shaping window). */
    readonly shapingMaxWaitMs: number;
    /**
     * Shaping admits at most `quota` calls in any window of 1000 ms plus this margin, so network
     * jitter between the proxy and FRS cannot squeeze quota + 1 calls into FRS's 1-second window.
     */
    readonly shapingMarginMs: number;
    /**
     * How replicas share the quota (issue 12): `local` shapes each replica to the whole quota,
     * `postgres` gives each live replica quota ÷ replicas (heartbeat table), `redis` shares one
     * sliding window per operation in Redis with the postgres share as fallback.
     */
    readonly coordination: QpsCoordination;
    readonly redisUrl?: string;
    /** A Redis command slower than this counts as Redis unreachable (the call takes the fallback share). */
    readonly redisTimeoutMs: number;
    /** What a call over the rate does: wait for a slot, go through anyway (on demand), or 429 at once. */
    readonly overflow: QpsOverflow;
    /** How often a replica renews its heartbeat row and re-reads the live replicas. */
    readonly heartbeatMs: number;
    /** A replica whose heartbeat is older than this counts as gone (crashed). */
    readonly replicaTtlMs: number;
  };
  readonly packages: { readonly forecastWindowDays: number };
  /** Month-end forecast and package advice (src/insights). */
  readonly insights: {
    /** Whole days of history behind the forecast's weekday × hour profile and its residuals. */
    readonly historyDays: number;
    /** JSON with the QPS and call package sizes and prices the advisor compares (none shipped). */
    readonly offersFile?: string;
  };
  readonly budgets: {
    /** Largest block of calls one lease takes (blocks are also at most 1/8 of what is left). */
    readonly leaseCalls: number;
    /** A lease not renewed for this long (its replica died) expires; its calls stay committed. */
    readonly leaseTtlMs: number;
    /** How often budgets, leases and the month's usage are re-read, and leases renewed. */
    readonly refreshMs: number;
  };
  readonly billing: {
    readonly endpoint: string;
    readonly serviceTypeCode?: string;
    readonly serviceTypeName: string;
    readonly language: 'zh_CN' | 'en_US';
    readonly syncEnabled: boolean;
    readonly requestsPerSecond: number;
    /** BSS record code → operation; real FRS codes are UNCERTAIN (billing-api.md §2.6), see operation-map.ts. */
    readonly operationMap: OperationMap;
    /** Month M is final from `finalHour` on `finalDay` of M+1 (Huawei's Cost Center: after 12:00 on the 4th, Beijing time). */
    readonly finalDay: number;
    readonly finalHour: number;
    /** BSS usage_measure_id → calls per unit of `usage` (a bill in thousands of calls is 1,000 per unit). */
    readonly usageUnits: ReadonlyMap<number, number>;
    /** ...and re-pulled daily through this day of M+1 to catch corrections. */
    readonly finalUntilDay: number;
    /** How often the scheduler checks which months are due (a check is one small query). */
    readonly checkIntervalSeconds: number;
    /** Per BSS request: attempts (first included) and exponential backoff on 429/CBC.0250/5xx. */
    readonly maxAttempts: number;
    readonly backoffBaseMs: number;
    readonly backoffMaxMs: number;
    readonly timeoutMs: number;
    /**
     * Cost Center daily costs (billing-api.md §8): pulled hourly for the current month and the
     * previous one until its bill is final, so each day can be reconciled before the bill exists.
     */
    readonly costCenter: {
      readonly enabled: boolean;
      /** The dimension costs are grouped by; its values are mapped to operations with operationMap. */
      readonly groupBy: 'RESOURCE_TYPE' | 'USAGE_TYPE';
      /** A day counts as provisional once a pull ran this long after the day ended (Cost Center lags ~1 h). */
      readonly lagMinutes: number;
      readonly refreshMinutes: number;
    };
  };
  readonly metrics: {
    readonly durationBuckets: readonly number[];
  };
}

const COST_BUCKETS: readonly CostBucket[] = ['qps_package', 'call_package', 'free_tier', 'pay_per_use'];

/** Buckets from 10 ms to 60 s: FRS answers in tens of milliseconds to tens of seconds (liveness on video). */
export const DEFAULT_DURATION_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8, 13, 21, 34, 60];

export function loadConfig(env: Env = process.env): Config {
  const r = new EnvReader(env);

  const endpoint = r.url('FRS_ENDPOINT');
  if (r.raw('FRS_ENDPOINT') === undefined) {
    r.problem('FRS_ENDPOINT is required: the upstream FRS base URL, e.g. https://face.cn-north-4.myhuaweicloud.com (or the bundled emulator\'s URL)');
  }

  const ak = r.raw('HUAWEICLOUD_SDK_AK');
  const sk = r.raw('HUAWEICLOUD_SDK_SK');
  const iamVars = ['IAM_ENDPOINT', 'IAM_DOMAIN_NAME', 'IAM_USERNAME', 'IAM_PASSWORD'] as const;
  const iamSet = iamVars.filter((v) => r.raw(v) !== undefined);
  let auth: UpstreamAuth = { kind: 'aksk', ak: '', sk: '' };
  if (ak !== undefined || sk !== undefined) {
    if (ak === undefined || sk === undefined) {
      r.problem(`${ak === undefined ? 'HUAWEICLOUD_SDK_AK' : 'HUAWEICLOUD_SDK_SK'} is required when ${ak === undefined ? 'HUAWEICLOUD_SDK_SK' : 'HUAWEICLOUD_SDK_AK'} is set: the upstream access key and secret key go together`);
    }
    auth = { kind: 'aksk', ak: ak ?? '', sk: sk ?? '' };
  } else if (iamSet.length > 0) {
    const missing = iamVars.filter((v) => r.raw(v) === undefined);
    if (missing.length > 0) r.problem(`${missing.join(', ')} required: IAM token auth needs all of ${iamVars.join(', ')}`);
    auth = {
      kind: 'iam',
      endpoint: r.url('IAM_ENDPOINT') ?? '',
      domainName: r.string('IAM_DOMAIN_NAME', ''),
      username: r.string('IAM_USERNAME', ''),
      password: r.string('IAM_PASSWORD', ''),
      refreshMarginSeconds: r.int('FRS_METER_IAM_REFRESH_MARGIN_SECONDS', 3600, 1, 86_400),
    };
  } else {
    r.problem('HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK (or IAM_ENDPOINT, IAM_DOMAIN_NAME, IAM_USERNAME, IAM_PASSWORD) are required: the upstream credentials frs-meter signs calls with');
  }

  const secretKey = r.raw('FRS_METER_SECRET_KEY');
  if (secretKey === undefined) {
    r.problem('FRS_METER_SECRET_KEY is required: a key of at least 16 characters that encrypts stored app secret keys');
  } else if (secretKey.length < 16) {
    r.problem('FRS_METER_SECRET_KEY is too short: expected at least 16 characters');
  }
  const adminToken = r.raw('FRS_METER_ADMIN_TOKEN');
  if (adminToken !== undefined && adminToken.length < 8) {
    r.problem('FRS_METER_ADMIN_TOKEN is too short: expected at least 8 characters');
  }
  const readonlyTokens = r.list('FRS_METER_READONLY_TOKENS', []);
  if (readonlyTokens.some((t) => t.length < 8)) r.problem('FRS_METER_READONLY_TOKENS has a token shorter than 8 characters');
  if (adminToken !== undefined && readonlyTokens.includes(adminToken)) {
    r.problem('FRS_METER_READONLY_TOKENS must not contain FRS_METER_ADMIN_TOKEN: one token, one scope');
  }

  const excluded = r.list('FRS_METER_FREE_TIER_EXCLUDED', ['live_detect', 'live_detect_face'], BILLABLE_OPERATION_NAMES) as OperationName[];
  const drawdown = r.list('FRS_METER_DRAWDOWN_ORDER', COST_BUCKETS, COST_BUCKETS) as CostBucket[];
  if (new Set(drawdown).size !== COST_BUCKETS.length || drawdown.length !== COST_BUCKETS.length) {
    r.problem(`FRS_METER_DRAWDOWN_ORDER must name each of ${COST_BUCKETS.join(', ')} exactly once`);
  }

  const bucketsRaw = r.raw('FRS_METER_DURATION_BUCKETS');
  let durationBuckets = DEFAULT_DURATION_BUCKETS;
  if (bucketsRaw !== undefined) {
    const parsed = bucketsRaw.split(',').map((s) => Number(s.trim()));
    if (parsed.length === 0 || parsed.some((n) => !Number.isFinite(n) || n <= 0) || parsed.some((n, i) => i > 0 && n <= parsed[i - 1])) {
      r.problem('FRS_METER_DURATION_BUCKETS is not valid: expected increasing positive seconds, e.g. 0.05,0.1,0.5,1,5');
    } else {
      durationBuckets = parsed;
    }
  }

  // Shaping waits by default up to one full shaping window, so the overflow of a burst can take
  // the next second's slots instead of being refused.
  const shapingMarginMs = r.int('FRS_METER_QPS_SHAPING_MARGIN_MS', 50, 0, 1_000);

  // Postgres coordination is the default only with an external DATABASE_URL: the embedded server
  // belongs to one process (its data dir), so there are no other replicas to share with.
  const coordination = r.oneOf('FRS_METER_QPS_COORDINATION', ['local', 'postgres', 'redis'] as const, r.raw('DATABASE_URL') !== undefined ? 'postgres' : 'local');
  const redisUrl = r.raw('REDIS_URL');
  if (coordination === 'redis' && redisUrl === undefined) r.problem('REDIS_URL is required with FRS_METER_QPS_COORDINATION=redis: the Redis server that holds the shared QPS windows, e.g. redis://127.0.0.1:6379');
  if (redisUrl !== undefined && !/^rediss?:\/\/[^\s]+$/.test(redisUrl)) r.problem('REDIS_URL is not valid: expected redis://host:port or rediss://host:port');
  const heartbeatMs = r.int('FRS_METER_QPS_HEARTBEAT_MS', 1_000, 50, 60_000);
  const replicaTtlMs = r.int('FRS_METER_QPS_REPLICA_TTL_MS', 3 * heartbeatMs, 100, 600_000);
  if (replicaTtlMs <= heartbeatMs) r.problem('FRS_METER_QPS_REPLICA_TTL_MS must be more than FRS_METER_QPS_HEARTBEAT_MS, or live replicas would expire between heartbeats');

  const budgetRefresh = r.int('FRS_METER_BUDGET_REFRESH_MS', 2_000, 100, 600_000);
  const budgetTtl = r.int('FRS_METER_BUDGET_LEASE_TTL_MS', 30_000, 1_000, 86_400_000);
  if (budgetTtl < 2 * budgetRefresh) r.problem('FRS_METER_BUDGET_LEASE_TTL_MS must be at least twice FRS_METER_BUDGET_REFRESH_MS, or live replicas would lose leases between renewals');

  const timeouts = {
    multiplier: r.number('FRS_METER_TIMEOUT_MULTIPLIER', 2, 1, 20),
    minSeconds: r.number('FRS_METER_TIMEOUT_MIN_SECONDS', 0.25, 0.01, 600),
    maxSeconds: r.number('FRS_METER_TIMEOUT_MAX_SECONDS', 30, 0.01, 600),
    minSamples: r.int('FRS_METER_TIMEOUT_MIN_SAMPLES', 50, 1, 1_000_000),
    windowSeconds: r.int('FRS_METER_LATENCY_WINDOW_SECONDS', 300, 10, 86_400),
  };
  if (timeouts.minSeconds > timeouts.maxSeconds) {
    r.problem('FRS_METER_TIMEOUT_MIN_SECONDS must not exceed FRS_METER_TIMEOUT_MAX_SECONDS');
  }

  if (auth.kind === 'iam' && r.raw('FRS_PROJECT_ID') === undefined) {
    r.problem('FRS_PROJECT_ID is required with IAM token auth: the token is scoped to that project');
  }

  const config: Config = {
    server: {
      port: r.int('PORT', 8080, 0, 65_535),
      host: r.string('FRS_METER_HOST', '0.0.0.0'),
      shutdownGraceMs: r.int('FRS_METER_SHUTDOWN_GRACE_MS', 30_000, 0, 600_000),
      headersTimeoutMs: r.int('FRS_METER_HEADERS_TIMEOUT_MS', 5_000, 100, 120_000),
      bodyGraceMs: r.int('FRS_METER_BODY_GRACE_MS', 5_000, 100, 120_000),
      // 32 KiB/s = 256 kbit/s: a 12 MB body may take 6 minutes; a real client is far faster.
      minBodyBytesPerSecond: r.int('FRS_METER_MIN_BODY_BYTES_PER_SECOND', 32 * 1024, 1, 1024 * 1024 * 1024),
      keepAliveTimeoutMs: r.int('FRS_METER_CLIENT_KEEPALIVE_TIMEOUT_MS', 65_000, 1_000, 600_000),
    },
    database: {
      url: r.raw('DATABASE_URL'),
      dataDir: r.string('FRS_METER_DATA_DIR', './.frs-meter'),
      embeddedPort: r.int('FRS_METER_EMBEDDED_PG_PORT', 0, 0, 65_535),
      connectTimeoutMs: r.int('FRS_METER_DB_CONNECT_TIMEOUT_MS', 3_000, 50, 60_000),
      // Long enough for a month's report or bill over a large table; a query never waits forever.
      statementTimeoutMs: r.int('FRS_METER_DB_STATEMENT_TIMEOUT_MS', 30_000, 50, 3_600_000),
      readinessIntervalMs: r.int('FRS_METER_READINESS_INTERVAL_MS', 1_000, 50, 60_000),
    },
    upstream: {
      endpoint: endpoint ?? '',
      projectId: r.raw('FRS_PROJECT_ID'),
      auth,
      connections: r.int('FRS_METER_UPSTREAM_CONNECTIONS', 64, 1, 10_000),
      keepAliveTimeoutMs: r.int('FRS_METER_KEEPALIVE_TIMEOUT_MS', 60_000, 1_000, 290_000),
      connectTimeoutMs: r.int('FRS_METER_CONNECT_TIMEOUT_MS', 3_000, 100, 60_000),
      tlsRejectUnauthorized: r.bool('FRS_METER_TLS_VERIFY', true),
      signBody: r.bool('FRS_METER_SIGN_BODY', false),
      pathEncoding: r.oneOf('FRS_METER_UPSTREAM_PATH_ENCODING', ['single', 'double'] as const, 'single'),
    },
    limits: {
      mediaBodyBytes: r.int('FRS_METER_MAX_MEDIA_BODY_BYTES', 8 * 1024 * 1024, 1024, 64 * 1024 * 1024),
      otherBodyBytes: r.int('FRS_METER_MAX_BODY_BYTES', 1024 * 1024, 1024, 64 * 1024 * 1024),
      akskBodyBytes: 12 * 1024 * 1024,
    },
    timeouts,
    retry: {
      maxAttempts: r.int('FRS_METER_RETRY_MAX_ATTEMPTS', 2, 1, 10),
      budgetRatio: r.number('FRS_METER_RETRY_BUDGET_RATIO', 0.1, 0, 1),
      budgetMinPerMinute: r.int('FRS_METER_RETRY_BUDGET_MIN_PER_MINUTE', 10, 0, 1_000_000),
      backoffBaseMs: r.int('FRS_METER_RETRY_BACKOFF_BASE_MS', 50, 0, 60_000),
      backoffMaxMs: r.int('FRS_METER_RETRY_BACKOFF_MAX_MS', 1_000, 0, 60_000),
      afterTimeout: retryAfterTimeout(r),
    },
    auth: {
      adminToken,
      readonlyTokens,
      secretKey: secretKey ?? '',
      maxClockSkewSeconds: r.int('FRS_METER_MAX_CLOCK_SKEW_SECONDS', 900, 1, 86_400),
      clientUnsignedPayload: r.oneOf('FRS_METER_CLIENT_UNSIGNED_PAYLOAD', ['multipart', 'allow'] as const, 'multipart'),
      appReloadIntervalMs: r.int('FRS_METER_APP_RELOAD_INTERVAL_MS', 1_000, 50, 60_000),
    },
    usage: {
      flushIntervalMs: r.int('FRS_METER_FLUSH_INTERVAL_MS', 1_000, 50, 600_000),
      flushIdRetentionMs: r.int('FRS_METER_FLUSH_ID_RETENTION_HOURS', 168, 1, 24 * 366) * 3_600_000,
      billingTimezone: r.timezone('BILLING_TIMEZONE', 'Asia/Shanghai'),
      freeTierCalls: r.int('FRS_METER_FREE_TIER_CALLS', 2_000, 0, 1_000_000_000),
      // Default per_account, live_detect and live_detect_face excluded: Huawei's billing page (the
      // newer source) says each user gets 2,000 calls a month and excludes both liveness kinds;
      // the older FAQ excludes action liveness only (billing-api.md §8). "pooled" is the old name.
      freeTierScope: freeTierScope(r),
      freeTierExcluded: excluded,
      batchDeleteBillable: r.bool('FRS_METER_BATCH_DELETE_BILLABLE', true),
      drawdownOrder: drawdown,
      priceTableFile: r.raw('FRS_METER_PRICE_TABLE_FILE'),
    },
    qps: {
      shaping: r.bool('FRS_METER_QPS_SHAPING', false),
      shapingMaxWaitMs: r.int('FRS_METER_QPS_SHAPING_MAX_WAIT_MS', 1_000 + shapingMarginMs, 0, 60_000),
      shapingMarginMs,
      coordination,
      redisUrl,
      redisTimeoutMs: r.int('FRS_METER_REDIS_TIMEOUT_MS', 100, 5, 10_000),
      overflow: r.oneOf('FRS_METER_QPS_OVERFLOW', ['wait', 'pass', 'reject'] as const, 'wait'),
      heartbeatMs,
      replicaTtlMs,
    },
    packages: { forecastWindowDays: r.number('FRS_METER_FORECAST_WINDOW_DAYS', 7, 0.01, 366) },
    insights: { historyDays: r.int('FRS_METER_FORECAST_HISTORY_DAYS', 28, 1, 366), offersFile: r.raw('FRS_METER_PACKAGE_OFFERS_FILE') },
    budgets: {
      leaseCalls: r.int('FRS_METER_BUDGET_LEASE_CALLS', 100, 1, 1_000_000),
      leaseTtlMs: budgetTtl,
      refreshMs: budgetRefresh,
    },
    billing: {
      endpoint: r.url('BSS_ENDPOINT', 'https://bss.myhuaweicloud.com') ?? '',
      serviceTypeCode: r.raw('FRS_METER_BSS_SERVICE_TYPE_CODE'),
      serviceTypeName: r.string('FRS_METER_BSS_SERVICE_TYPE_NAME', '人脸识别'),
      language: r.oneOf('FRS_METER_BSS_LANGUAGE', ['zh_CN', 'en_US'] as const, 'zh_CN'),
      syncEnabled: r.bool('FRS_METER_BILLING_SYNC', true),
      requestsPerSecond: r.number('FRS_METER_BSS_RPS', 10, 0.1, 1_000),
      operationMap: bssOperationMap(r),
      finalDay: r.int('FRS_METER_BILLING_FINAL_DAY', 4, 1, 28),
      finalHour: r.int('FRS_METER_BILLING_FINAL_HOUR', 12, 0, 23),
      usageUnits: usageUnits(r),
      finalUntilDay: r.int('FRS_METER_BILLING_FINAL_UNTIL_DAY', 7, 1, 28),
      checkIntervalSeconds: r.int('FRS_METER_BILLING_CHECK_INTERVAL_SECONDS', 300, 1, 86_400),
      maxAttempts: r.int('FRS_METER_BSS_MAX_ATTEMPTS', 6, 1, 20),
      backoffBaseMs: r.int('FRS_METER_BSS_BACKOFF_BASE_MS', 500, 0, 600_000),
      backoffMaxMs: r.int('FRS_METER_BSS_BACKOFF_MAX_MS', 30_000, 0, 600_000),
      timeoutMs: r.int('FRS_METER_BSS_TIMEOUT_MS', 30_000, 100, 600_000),
      costCenter: {
        enabled: r.bool('FRS_METER_COST_CENTER_SYNC', true),
        groupBy: r.oneOf('FRS_METER_COST_CENTER_GROUP_BY', ['RESOURCE_TYPE', 'USAGE_TYPE'] as const, 'RESOURCE_TYPE'),
        lagMinutes: r.int('FRS_METER_COST_CENTER_LAG_MINUTES', 60, 0, 24 * 60),
        refreshMinutes: r.int('FRS_METER_COST_CENTER_REFRESH_MINUTES', 60, 1, 24 * 60),
      },
    },
    metrics: { durationBuckets },
  };

  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return config;
}

/**
 * FRS_METER_BSS_USAGE_UNITS: "id:calls,id:calls". The ids come from BSS's measurement dictionary
 * (GET /v2/bases/measurements); which one FRS bills calls in is not documented (billing-api.md
 * §6.6), so 41 (次, what the bundled emulator sends) is the default and a record in any other unit
 * is reported as not convertible instead of being counted as calls.
 */
function usageUnits(r: EnvReader): Map<number, number> {
  const raw = r.raw('FRS_METER_BSS_USAGE_UNITS') ?? '41:1';
  const out = new Map<number, number>();
  for (const item of raw.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const m = /^(\d+):(\d+)$/.exec(item);
    if (!m || Number(m[2]) <= 0) {
      r.problem(`FRS_METER_BSS_USAGE_UNITS has ${JSON.stringify(item)}: expected id:calls_per_unit pairs, e.g. 41:1,42:1000`);
      continue;
    }
    out.set(Number(m[1]), Number(m[2]));
  }
  return out;
}

/** FRS_METER_RETRY_AFTER_TIMEOUT: `all` (default: availability first), `none`, or a list of operations. */
function retryAfterTimeout(r: EnvReader): OperationName[] {
  const raw = r.raw('FRS_METER_RETRY_AFTER_TIMEOUT');
  if (raw === undefined || raw.trim() === 'all') return [...OPERATION_NAMES];
  if (raw.trim() === 'none') return [];
  return r.list('FRS_METER_RETRY_AFTER_TIMEOUT', [], OPERATION_NAMES) as OperationName[];
}

function freeTierScope(r: EnvReader): 'per_operation' | 'per_sub_service' | 'per_account' {
  if (r.raw('FRS_METER_FREE_TIER_SCOPE') === 'pooled') return 'per_account';
  return r.oneOf('FRS_METER_FREE_TIER_SCOPE', ['per_operation', 'per_sub_service', 'per_account'] as const, 'per_account');
}

function bssOperationMap(r: EnvReader): OperationMap {
  const raw = r.raw('FRS_METER_BSS_OPERATION_MAP');
  if (raw === undefined) return DEFAULT_OPERATION_MAP;
  const { map, problems } = parseOperationMap(raw);
  for (const p of problems) r.problem(`FRS_METER_BSS_OPERATION_MAP ${p}`);
  return map ?? DEFAULT_OPERATION_MAP;
}

export const CONFIG = Symbol('CONFIG');

/** Is a 2xx answer to this operation a valid, billed call under this configuration? */
export function isBillable(config: Config, operation: OperationName): boolean {
  if (operation === 'face_batch_delete') return config.usage.batchDeleteBillable;
  return BILLABLE_OPERATION_NAMES.includes(operation);
}

export { ConfigError, OPERATION_NAMES };
