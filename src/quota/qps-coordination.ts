// Cluster-wide QPS shaping (FRS_METER_QPS_COORDINATION). A QPS quota is bought for the account,
// so N replicas that each shape to the whole quota send up to N × quota. Three modes:
//
// - local: each replica shapes to the whole quota (one replica, or an outside load balancer that
//   already limits).
// - postgres: every replica upserts a heartbeat row in qps_replicas and re-reads the live ones
//   (heartbeat younger than the TTL) every FRS_METER_QPS_HEARTBEAT_MS. Replica k of n (ordered by
//   start time) takes floor(q / n), plus one for the first q mod n, so the shares add up to exactly
//   q. Shares never overlap in time: a replica that joins while others are live takes nothing
//   until every other has had one heartbeat to shrink plus one shaping window for their old slots
//   to age out; a share that grows (a replica left) grows one shaping window late, after the
//   leaver's last slots have aged out. A crashed replica's share is taken over after the TTL.
// - redis: one sliding window per operation in Redis shared by every replica (the Lua script
//   below, the same slot rule as QpsShaper, atomic because Redis runs a script alone). While Redis
//   is unreachable each call is shaped locally on the postgres share instead, counted in
//   frs_qps_coordination_fallback_calls_total; calls never fail because Redis is down.
//
// The hot path reads memory only (share()) or makes one Redis round trip (reserveShared()); the
// heartbeat runs on a timer.

import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import Redis from 'ioredis';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { CONFIG, Config, QpsCoordination } from '../config/config';
import { DATA_SOURCE } from '../database/database';
import { MetricsService } from '../metrics/metrics.service';
import { KNOWN_OPERATIONS, OperationName } from '../frs/operations';

/** Share of replica `rank` (0-based, oldest first) among `n` live replicas: the shares add up to `quota`. */
export function splitShare(quota: number, rank: number, n: number): number {
  if (n <= 1) return quota;
  return Math.floor(quota / n) + (rank < quota % n ? 1 : 0);
}

interface Membership {
  readonly n: number;
  readonly rank: number;
}

/**
 * One reservation in the shared window of one operation. KEYS[1]: sorted set of slot times (ms,
 * Redis clock) handed out; ARGV: quota, window ms, longest wait ms, a unique member.
 * The next slot is max(now, the quota-th most recent slot + window), as in QpsShaper: slots never
 * decrease, so any quota + 1 consecutive slots span at least the window, whichever replica took
 * them. Answers the wait in ms (0 = go now), or -1 when the wait would be longer than allowed
 * (then nothing is reserved). Entries older than the window cannot decide a slot and are trimmed;
 * the key expires when the operation goes quiet.
 */
export const RESERVE_SCRIPT = `
if redis.replicate_commands then redis.replicate_commands() end
local quota = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local maxwait = tonumber(ARGV[3])
if quota <= 0 then return -1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
local slot = now
if n >= quota then
  local kth = redis.call('ZRANGE', KEYS[1], n - quota, n - quota, 'WITHSCORES')
  local s = tonumber(kth[2]) + window
  if s > slot then slot = s end
end
if slot - now > maxwait then return -1 end
redis.call('ZADD', KEYS[1], slot, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window + maxwait + 1000)
return slot - now
`;

type ReserveCommand = (key: string, quota: number, windowMs: number, maxWaitMs: number, member: string) => Promise<number>;

/** How long a start waits for Redis before shaping on the fallback share (it keeps reconnecting after). */
const REDIS_START_WAIT_MS = 2_000;

@Injectable()
export class QpsCoordinator implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('QpsCoordination');
  readonly mode: QpsCoordination;
  readonly replicaId = `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  private readonly startedAt = new Date();
  private readonly windowMs: number;
  private current: Membership = { n: 1, rank: 0 };
  /** Memberships replaced less than one shaping window ago: still binding (growth is delayed). */
  private recent: Array<{ readonly m: Membership; readonly until: number }> = [];
  /** A replica that joined others takes no share before this (monotonic ms). */
  private graceUntil = 0;
  private timer?: NodeJS.Timeout;
  private heartbeatFailing = false;
  private stopped = false;
  private redis?: Redis;
  private reserveCmd?: ReserveCommand;
  private seq = 0;
  private redisDown = false;
  private readonly fallbackCalls = {} as Record<OperationName, { inc(n?: number): void }>;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    private readonly metrics: MetricsService,
  ) {
    this.mode = config.qps.coordination;
    this.windowMs = 1000 + config.qps.shapingMarginMs;
    for (const op of KNOWN_OPERATIONS) {
      this.fallbackCalls[op.name] = metrics.qpsCoordinationFallback.labels(op.name);
      this.fallbackCalls[op.name].inc(0);
    }
    metrics.onCollect(() => metrics.qpsCoordinationReplicas.set(this.current.n));
  }

  /** Shaping is on and the quota is shared with other replicas (heartbeats run). */
  get active(): boolean {
    return this.config.qps.shaping && this.mode !== 'local';
  }

  async onModuleInit(): Promise<void> {
    if (!this.active) return;
    await this.register().catch((err) => {
      // Without the table we cannot know the others: stay on the whole quota until a heartbeat works.
      this.heartbeatFailing = true;
      this.logger.warn(`could not register for QPS coordination, shaping to the whole quota until Postgres answers: ${String(err)}`);
    });
    this.timer = setInterval(() => void this.heartbeat(), this.config.qps.heartbeatMs);
    this.timer.unref();
    // Wait (briefly) for Redis before serving, so the first calls are shaped in the shared window
    // rather than counted as fallback; an unreachable Redis never stops the start.
    if (this.mode === 'redis') await this.connectRedis();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (!this.active) return;
    // Leaving at once lets the others take this share at their next heartbeat instead of after the TTL.
    await this.db.query('DELETE FROM qps_replicas WHERE id = $1', [this.replicaId]).catch(() => undefined);
    if (this.redis) this.redis.disconnect();
  }

  /** Hot path: this replica's share of `quota` calls per window. */
  share(quota: number): number {
    if (!this.active) return quota;
    const t = performance.now();
    if (t < this.graceUntil) return 0;
    let s = splitShare(quota, this.current.rank, this.current.n);
    for (const r of this.recent) if (t < r.until) s = Math.min(s, splitShare(quota, r.m.rank, r.m.n));
    return s;
  }

  /** Live replicas as this one last saw them. */
  get replicas(): number {
    return this.current.n;
  }

  /**
   * Hot path in redis mode: reserves a slot in the shared window; resolves to the wait in ms or -1
   * (no slot within maxWaitMs). Undefined when Redis is not connected, and the promise rejects when
   * the command fails: the caller then shapes on the local share (fallback()).
   */
  reserveShared(operation: OperationName, quota: number, maxWaitMs: number): Promise<number> | undefined {
    if (!this.reserveCmd || this.redis?.status !== 'ready') return undefined;
    return this.reserveCmd(`frs-meter:qps:${operation}`, quota, this.windowMs, maxWaitMs, `${this.replicaId}:${this.seq++}`);
  }

  /** Counts one call shaped on the local share because Redis could not be asked. */
  fallback(operation: OperationName): void {
    this.fallbackCalls[operation].inc();
    if (!this.redisDown) {
      this.redisDown = true;
      this.logger.warn('Redis unreachable: shaping on this replica\'s share of the quota until it is back');
    }
  }

  get usesRedis(): boolean {
    return this.active && this.mode === 'redis';
  }

  private connectRedis(): Promise<void> {
    const redis = new Redis(this.config.qps.redisUrl ?? '', {
      // Fail at once rather than queue while disconnected: a queued call would wait for Redis.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: this.config.qps.redisTimeoutMs,
      connectTimeout: 2_000,
      retryStrategy: (times) => Math.min(100 * times, 1_000),
      lazyConnect: true,
    });
    redis.defineCommand('frsQpsReserve', { numberOfKeys: 1, lua: RESERVE_SCRIPT });
    const cmd = (redis as unknown as { frsQpsReserve: ReserveCommand }).frsQpsReserve.bind(redis);
    this.reserveCmd = (...args) => cmd(...args).then(Number);
    redis.on('error', () => undefined); // reported once through fallback(); ioredis reconnects by itself
    redis.on('ready', () => {
      if (this.redisDown) this.logger.log('Redis reachable again: shaping in the shared window');
      this.redisDown = false;
    });
    this.redis = redis;
    const firstReady = new Promise<void>((resolve) => {
      const done = setTimeout(resolve, REDIS_START_WAIT_MS);
      done.unref();
      redis.once('ready', () => {
        clearTimeout(done);
        resolve();
      });
    });
    redis.connect().catch(() => undefined);
    return firstReady;
  }

  /** First heartbeat, under an advisory lock so two replicas starting together see each other. */
  private async register(): Promise<void> {
    await this.db.transaction(async (m) => {
      await m.query(`SELECT pg_advisory_xact_lock(hashtext('frs-meter:qps_replicas'))`);
      await m.query(`DELETE FROM qps_replicas WHERE heartbeat_at < now() - interval '1 hour'`);
      await m.query('INSERT INTO qps_replicas (id, started_at, heartbeat_at) VALUES ($1, $2, now())', [this.replicaId, this.startedAt]);
      const live = await this.live(m.query.bind(m));
      this.apply(live, true);
    });
  }

  private async heartbeat(): Promise<void> {
    if (this.stopped) return;
    try {
      const rows: Array<{ inserted: boolean }> = await this.db.query(
        `INSERT INTO qps_replicas (id, started_at, heartbeat_at) VALUES ($1, $2, now())
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = now() RETURNING (xmax = 0) AS inserted`,
        [this.replicaId, this.startedAt],
      );
      const live = await this.live((sql, params) => this.db.query(sql, params));
      if (this.stopped) return;
      // Our row was gone (expired while we could not reach Postgres): the others have taken our
      // share, so rejoin as a newcomer.
      this.apply(live, rows[0]?.inserted === true);
      if (this.heartbeatFailing) this.logger.log('QPS coordination heartbeat works again');
      this.heartbeatFailing = false;
    } catch (err) {
      // Keep the last share: calls go on; the bound while cut off is in the README.
      if (!this.heartbeatFailing) this.logger.warn(`QPS coordination heartbeat failed, keeping the share of ${this.current.n} replicas: ${String(err)}`);
      this.heartbeatFailing = true;
    }
  }

  private async live(query: (sql: string, params: unknown[]) => Promise<Array<{ id: string }>>): Promise<string[]> {
    const rows = await query(`SELECT id FROM qps_replicas WHERE heartbeat_at > now() - make_interval(secs => $1::float8 / 1000) ORDER BY started_at, id`, [this.config.qps.replicaTtlMs]);
    return rows.map((r) => r.id);
  }

  private apply(live: string[], joined: boolean): void {
    let rank = live.indexOf(this.replicaId);
    if (rank < 0) {
      live = [...live, this.replicaId];
      rank = live.length - 1;
    }
    const next: Membership = { n: live.length, rank };
    const t = performance.now();
    if (joined && next.n > 1) this.graceUntil = t + this.config.qps.heartbeatMs + this.windowMs;
    if (next.n !== this.current.n || next.rank !== this.current.rank) {
      // Until the old membership's slots have aged out, take the smallest of the shares.
      this.recent = [...this.recent.filter((r) => t < r.until), { m: this.current, until: t + this.windowMs }];
      this.current = next;
    }
  }
}
