// The bundled FRS + IAM emulator: a plain node:http server (not Nest) so tests control sockets
// directly — stalls, resets and idle closes are socket-level behaviour. Routing comes from the
// operation catalogue; every FRS call answered is written to the ledger.

import { createHash } from 'node:crypto';
import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Classified, OperationName, classify } from '../frs/operations';
import { DEFAULT_MAX_SKEW_SECONDS, sha256Hex, verifySignature } from '../frs/signer';
import { CONTROL_PREFIX, ClockSetting, ControlApi, handleControl } from './control';
import { FaceStore } from './face-store';
import { FaultInjector, FaultSettings, FaultSettingsInput } from './faults';
import { FrsHandlers, frsError } from './frs-handlers';
import { IamEmulator, IamUser } from './iam';
import { LatencySampler, LatencySettings, LatencySettingsInput } from './latency';
import { Ledger, LedgerEntry } from './ledger';
import { AuthResult, EmulatorContext, EmulatorPlugin } from './plugin';
import { createRandom, hexId } from './random';
import { QpsLimiter } from './throttle';

export type { ClockSetting } from './control';
export type { FaultSettings, FaultSettingsInput } from './faults';
export type { LatencyModel, LatencySettings, LatencySettingsInput } from './latency';
export type { LedgerEntry } from './ledger';
export type { AuthResult, EmulatorContext, EmulatorPlugin } from './plugin';
export type { IamUser } from './iam';

/** Demo AK/SK accepted when no credentials are configured; printed by `npm run emulator`. */
export const DEMO_CREDENTIALS: Readonly<{ ak: string; sk: string }> = Object.freeze({
  ak: 'EMULATORDEMOAK000001',
  sk: 'emulator-demo-secret-key-not-for-production',
});

/** Demo IAM user accepted when no users are configured. */
export const DEMO_IAM_USER: Readonly<IamUser> = Object.freeze({
  domainName: 'frs-meter-demo',
  username: 'frs-meter',
  password: 'emulator-demo-password',
});

export interface EmulatorOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  /** AK/SK pairs accepted on SDK-HMAC-SHA256 calls; default [DEMO_CREDENTIALS]. */
  credentials?: { ak: string; sk: string }[];
  /** Users accepted by POST /v3/auth/tokens; default [DEMO_IAM_USER]. */
  iamUsers?: IamUser[];
  /** Default 86400, as IAM. */
  tokenLifetimeSeconds?: number;
  /** Per-operation QPS; unspecified operations use the catalogue's defaultQps. */
  qps?: Partial<Record<OperationName, number>>;
  /** Per-operation latency models and the global latencyScale (default 1; 0 for fast tests). */
  latency?: LatencySettingsInput;
  faults?: FaultSettingsInput;
  /** Base clock for ledger times, token expiry and signature skew; default real time. */
  now?: () => Date;
  plugins?: EmulatorPlugin[];
  /** Seeds fault draws, latency samples and generated ids; random when omitted. */
  seed?: number;
  /** X-Sdk-Date tolerance, default 900 s as the gateway. */
  maxClockSkewSeconds?: number;
  /** Ledger entries kept (oldest dropped past it); default 100000. */
  ledgerLimit?: number;
  /** Where operational messages go (never bodies or credentials); default stderr. */
  log?: (line: string) => void;
}

export interface RunningEmulator {
  /** Base URL, e.g. http://127.0.0.1:9090 — for FRS, IAM and the control endpoint alike. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
  ledger(since?: number): LedgerEntry[];
  clearLedger(): void;
  getFaults(): FaultSettings;
  /** Each key given replaces that key (so `{errors: {}}` clears injected errors). Throws EmulatorInputError. */
  setFaults(partial: FaultSettingsInput): FaultSettings;
  getQps(): Record<OperationName, number>;
  setQps(partial: Partial<Record<OperationName, number>>): Record<OperationName, number>;
  getLatency(): LatencySettings;
  setLatency(partial: LatencySettingsInput): LatencySettings;
  /** A fixed time, an offset from the base clock, or null to follow the base clock again. */
  setClock(setting: ClockSetting): void;
  now(): Date;
  /** Issues an IAM token without the HTTP round trip (tests, plugins). */
  issueToken(opts?: { username?: string; domainName?: string; projectId?: string; lifetimeSeconds?: number }): { token: string; expiresAt: Date };
}

/** FRS's limit for an image or video body (reference §4). */
export const FRS_BODY_LIMIT = 8 * 1024 * 1024;
/** The gateway's limit for AK/SK-signed bodies. */
export const AKSK_BODY_LIMIT = 12 * 1024 * 1024;

const JSON_TYPE = 'application/json;charset=UTF-8';

interface ReceivedBody {
  /** The body, or its first FRS_BODY_LIMIT bytes when `truncated`. */
  buffer: Buffer;
  size: number;
  sha256: string;
  truncated: boolean;
}

/**
 * Reads the body once, hashing as it streams, and keeps at most FRS_BODY_LIMIT bytes: anything
 * larger is refused by size alone, and its hash is still exact for the ledger and AK/SK checks.
 */
function readBody(req: IncomingMessage): Promise<ReceivedBody> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    const chunks: Buffer[] = [];
    let kept = 0;
    let size = 0;
    let truncated = false;
    req.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      size += chunk.length;
      if (!truncated && kept + chunk.length <= FRS_BODY_LIMIT) {
        chunks.push(chunk);
        kept += chunk.length;
      } else truncated = true;
    });
    req.on('end', () => resolve({ buffer: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, kept), size, sha256: hash.digest('hex'), truncated }));
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(new Error('client closed the connection before the body was complete'));
    });
  });
}

function headerString(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Request headers as one string per name (lower-case, as Node gives them) for the signer. */
function flatHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

function splitUrl(url: string | undefined): { path: string; query: string } {
  const raw = url ?? '/';
  const q = raw.indexOf('?');
  return q < 0 ? { path: raw, query: '' } : { path: raw.slice(0, q), query: raw.slice(q + 1) };
}

function sendJson(res: ServerResponse, status: number, obj: unknown, headers?: Record<string, string>): void {
  if (res.headersSent) return;
  const payload = JSON.stringify(obj);
  res.writeHead(status, { ...headers, 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(payload) });
  res.end(payload);
}

function sendError(res: ServerResponse, status: number, code: string, msg: string): void {
  const body: Record<string, string> = { error_code: code, error_msg: msg };
  // Gateway (APIG/APIGW) errors also carry the request id in the body (reference §2.1).
  if (code.startsWith('APIG')) body.request_id = String(res.getHeader('X-Request-Id') ?? '');
  sendJson(res, status, body);
}

interface SocketState {
  inFlight: number;
  /** performance.now() when the last answer finished; undefined while a request is in progress. */
  idleSince?: number;
  idleTimer?: NodeJS.Timeout;
}

class EmulatorClock {
  private setting: ClockSetting = null;

  constructor(private readonly base: () => Date) {}

  set(setting: ClockSetting): void {
    this.setting = setting instanceof Date ? new Date(setting.getTime()) : setting;
  }

  now(): Date {
    if (this.setting instanceof Date) return new Date(this.setting.getTime());
    const t = this.base();
    return this.setting ? new Date(t.getTime() + this.setting.offsetMs) : t;
  }
}

class Emulator implements ControlApi {
  readonly server: Server;
  private readonly clock: EmulatorClock;
  private readonly ledgerStore: Ledger;
  private readonly faults: FaultInjector;
  private readonly latency: LatencySampler;
  private readonly qps: QpsLimiter;
  private readonly iam: IamEmulator;
  private readonly handlers: FrsHandlers;
  private readonly secrets: Map<string, string>;
  private readonly plugins: readonly EmulatorPlugin[];
  private readonly rand: () => number;
  private readonly maxSkewSeconds: number;
  private readonly log: (line: string) => void;
  private readonly context: EmulatorContext;
  /** Hashes of bodies handed to plugins, so ctx.verifyAuth does not hash them again. */
  private readonly bodyHashes = new WeakMap<Buffer, string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Per open socket: requests in progress and, when idle, since when and the timer that closes it. */
  private readonly sockets = new Map<Socket, SocketState>();

  constructor(opts: EmulatorOptions) {
    this.rand = createRandom(opts.seed);
    this.clock = new EmulatorClock(opts.now ?? (() => new Date()));
    const now = () => this.clock.now();
    this.ledgerStore = new Ledger(opts.ledgerLimit);
    this.faults = new FaultInjector(opts.faults, this.rand, now);
    this.latency = new LatencySampler(opts.latency, this.rand);
    this.qps = new QpsLimiter(opts.qps);
    this.iam = new IamEmulator(opts.iamUsers ?? [DEMO_IAM_USER], opts.tokenLifetimeSeconds ?? 86_400, now);
    this.handlers = new FrsHandlers(new FaceStore(this.rand), this.rand, now());
    this.secrets = new Map((opts.credentials ?? [DEMO_CREDENTIALS]).map((c) => [c.ak, c.sk]));
    this.plugins = opts.plugins ?? [];
    this.maxSkewSeconds = opts.maxClockSkewSeconds ?? DEFAULT_MAX_SKEW_SECONDS;
    this.log = opts.log ?? ((line) => process.stderr.write(`[emulator] ${line}\n`));
    this.context = {
      ledger: (since) => this.ledgerStore.list(since),
      now,
      verifyAuth: (req, body) => {
        const { path, query } = splitUrl(req.url);
        return this.authenticate(req, path, query, this.bodyHashes.get(body) ?? sha256Hex(body));
      },
      sendJson,
      sendError,
    };

    this.server = createServer((req, res) => {
      this.dispatch(req, res).catch((e: unknown) => this.internalError(res, 'request handling', e));
    });
    this.server.on('connection', (socket: Socket) => {
      this.sockets.set(socket, { inFlight: 0 });
      socket.on('close', () => {
        clearTimeout(this.sockets.get(socket)?.idleTimer);
        this.sockets.delete(socket);
      });
    });
    this.applyIdleTimeout();
  }

  // --- ControlApi ---

  getFaults(): FaultSettings {
    return this.faults.get();
  }

  setFaults(partial: unknown): FaultSettings {
    const result = this.faults.set(partial);
    this.applyIdleTimeout();
    return result;
  }

  getQps(): Record<OperationName, number> {
    return this.qps.get();
  }

  setQps(partial: unknown): Record<OperationName, number> {
    return this.qps.set(partial);
  }

  getLatency(): LatencySettings {
    return this.latency.get();
  }

  setLatency(partial: unknown): LatencySettings {
    return this.latency.set(partial);
  }

  ledger(since?: number): LedgerEntry[] {
    return this.ledgerStore.list(since);
  }

  clearLedger(): void {
    this.ledgerStore.clear();
  }

  setClock(setting: ClockSetting): void {
    this.clock.set(setting);
  }

  now(): Date {
    return this.clock.now();
  }

  issueToken(opts?: Parameters<RunningEmulator['issueToken']>[0]): { token: string; expiresAt: Date } {
    const { token, grant } = this.iam.issue(opts);
    return { token, expiresAt: grant.expiresAt };
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
    for (const p of this.plugins) await p.close?.();
  }

  // --- request handling ---

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const state = this.sockets.get(req.socket);
    if (state) {
      state.inFlight++;
      clearTimeout(state.idleTimer);
      state.idleSince = undefined;
      // 'close' follows both a completed answer and an aborted one.
      res.on('close', () => {
        state.inFlight--;
        if (state.inFlight === 0 && !req.socket.destroyed) {
          state.idleSince = performance.now();
          this.armIdleClose(req.socket, state);
        }
      });
    }
    const incomingId = headerString(req, 'x-request-id');
    const requestId = incomingId && incomingId.length <= 256 ? incomingId : hexId(this.rand);
    res.setHeader('X-Request-Id', requestId);

    let body: ReceivedBody;
    try {
      body = await readBody(req);
    } catch {
      return; // The client went away mid-body: there is no one to answer.
    }
    const method = req.method ?? 'GET';
    const { path, query } = splitUrl(req.url);

    if (path.startsWith(CONTROL_PREFIX) || path === CONTROL_PREFIX.slice(0, -1)) {
      return handleControl(this, method, path.length < CONTROL_PREFIX.length ? CONTROL_PREFIX : path, new URLSearchParams(query), body.buffer, res, sendJson);
    }
    if (!body.truncated) {
      this.bodyHashes.set(body.buffer, body.sha256);
      for (const plugin of this.plugins) {
        try {
          if (await plugin.handle(req, res, body.buffer, this.context)) return;
        } catch (e) {
          return this.internalError(res, `plugin ${plugin.name}`, e);
        }
      }
    }
    if (path === '/v3/auth/tokens' || path === '/v3/auth/tokens/') {
      if (method !== 'POST') return sendJson(res, 405, { error: { code: 405, title: 'Method Not Allowed', message: 'Use POST to obtain a token.' } });
      const reply = this.iam.handleTokenRequest(body.buffer, new URLSearchParams(query));
      return sendJson(res, reply.status, reply.body, reply.headers);
    }
    const classified = classify(method, path);
    if (!classified) {
      return sendError(res, 404, 'APIG.0101', `The API does not exist or has not been published in the environment: ${method} ${path}`);
    }
    return this.frs(req, res, method, path, query, body, requestId, classified);
  }

  /** One FRS call, in the order the real service applies its checks (gateway first, then FRS). */
  private async frs(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    path: string,
    query: string,
    body: ReceivedBody,
    requestId: string,
    classified: Classified,
  ): Promise<void> {
    const operation = classified.operation.name;
    let credential: { accessKey?: string; token?: 'token' } = {};
    const declaredContentSha256 = headerString(req, 'x-sdk-content-sha256');
    // Recorded when the answer is written, so a stalled call appears once, with its final status.
    const record = (status: number, errorCode?: string) =>
      this.ledgerStore.record({
        time: this.clock.now().toISOString(),
        operation,
        method,
        path,
        ...(classified.projectId !== undefined ? { projectId: classified.projectId } : {}),
        status,
        ...(errorCode !== undefined ? { errorCode } : {}),
        ...credential,
        requestId,
        bodySha256: body.sha256,
        ...(declaredContentSha256 !== undefined ? { declaredContentSha256 } : {}),
      });
    const answer = (status: number, payload: unknown, errorCode?: string) => {
      sendJson(res, status, payload);
      record(status, errorCode);
    };
    const fail = (status: number, code: string, msg: string) => {
      sendError(res, status, code, msg);
      record(status, code);
    };

    if (operation === 'unknown') {
      return fail(404, 'APIG.0101', `The API does not exist or has not been published in the environment: ${method} ${path}`);
    }
    // Network faults first: they stand for the path to FRS, so any call can meet them.
    if (this.faults.reset(operation)) {
      record(0);
      req.socket.resetAndDestroy();
      return;
    }
    const stall = this.faults.stallSeconds(operation);
    if (stall > 0) await this.delay(stall * 1000);

    const signed = req.headers.authorization !== undefined && req.headers['x-auth-token'] === undefined;
    if (signed && body.size > AKSK_BODY_LIMIT) {
      return fail(413, 'APIG.0201', 'Request entity too large: AK/SK-signed bodies are limited to 12 MB; use token authentication');
    }
    const auth = this.authenticate(req, path, query, body.sha256);
    if (!auth.ok) return fail(auth.status, auth.code, auth.message);
    credential = auth.method === 'aksk' ? { accessKey: auth.accessKey } : { token: 'token' };

    const admitted = this.qps.admit(operation);
    for (const [name, value] of Object.entries(this.qps.rateLimitHeaders(operation))) res.setHeader(name, value);
    if (!admitted) {
      return fail(429, 'FRS.0033', `The number of requests exceeds the QPS limit of ${this.qps.get()[operation]} for ${operation}.`);
    }
    const latencyMs = this.latency.sampleMs(operation);
    if (latencyMs > 0) await this.delay(latencyMs);

    // Injected errors stand for FRS's own failures, so they come after the gateway's checks.
    const injected = this.faults.error(operation);
    if (injected) {
      const e = frsError(injected.code, `Injected by the emulator: ${injected.code}`);
      return answer(injected.status, e.body, injected.code);
    }
    if (body.size > FRS_BODY_LIMIT) {
      return fail(400, 'FRS.0017', 'The size of the request body is out of the range 8MB.');
    }
    const result = this.handlers.handle({
      operation,
      projectId: classified.projectId ?? '',
      faceSetName: classified.faceSetName,
      query: new URLSearchParams(query),
      body: body.buffer,
      bodySha256: body.sha256,
      contentType: headerString(req, 'content-type'),
      now: this.clock.now(),
    });
    return answer(result.status, result.body, result.errorCode);
  }

  /**
   * FRS authentication. A token wins over a signature when both are sent. Unknown and expired
   * tokens are both APIG.0301 (the gateway checks tokens before FRS sees the call); the message
   * says "expired" for the latter. The proxy treats APIG.0301 and FRS.0002 alike: refresh the
   * token and retry once.
   */
  private authenticate(req: IncomingMessage, path: string, query: string, bodySha256: string): AuthResult {
    const token = headerString(req, 'x-auth-token');
    if (token !== undefined) {
      const check = this.iam.check(token);
      if (check.ok) {
        const g = check.grant;
        return { ok: true, method: 'token', username: g.username, domainName: g.domainName, ...(g.projectId !== undefined ? { projectId: g.projectId } : {}) };
      }
      return {
        ok: false,
        status: 401,
        code: 'APIG.0301',
        message: check.expired ? 'Incorrect IAM authentication information: the token has expired' : 'Incorrect IAM authentication information: the token is not valid',
      };
    }
    if (req.headers.authorization !== undefined) {
      const result = verifySignature(
        { method: req.method ?? 'GET', path, query, headers: flatHeaders(req), bodySha256Hex: bodySha256 },
        (ak) => this.secrets.get(ak),
        this.clock.now(),
        this.maxSkewSeconds,
      );
      if (result.ok) return { ok: true, method: 'aksk', accessKey: result.accessKey };
      const prefix = result.code === 'APIGW.0303' ? 'Incorrect app authentication information' : 'Incorrect IAM authentication information';
      return { ok: false, status: 401, code: result.code, message: `${prefix}: ${result.reason}` };
    }
    return { ok: false, status: 401, code: 'APIG.0301', message: 'Incorrect IAM authentication information: send X-Auth-Token or an SDK-HMAC-SHA256 Authorization header' };
  }

  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
    });
  }

  /**
   * Idle keep-alive sockets close after idleCloseSeconds. Node's own keep-alive timer runs a
   * fixed buffer (1 s in Node 20) past server.keepAliveTimeout, so the emulator closes idle
   * sockets itself, on time; server.keepAliveTimeout still sets the advertised Keep-Alive hint
   * and stays as a backstop. Sockets already idle are re-armed, so a change applies at once.
   */
  private applyIdleTimeout(): void {
    this.server.keepAliveTimeout = Math.round(this.faults.idleCloseSeconds * 1000);
    for (const [socket, state] of this.sockets) if (state.inFlight === 0 && state.idleSince !== undefined) this.armIdleClose(socket, state);
  }

  private armIdleClose(socket: Socket, state: SocketState): void {
    clearTimeout(state.idleTimer);
    state.idleTimer = undefined;
    const ms = this.faults.idleCloseSeconds * 1000;
    if (ms <= 0 || state.idleSince === undefined) return;
    const remaining = Math.max(0, state.idleSince + ms - performance.now());
    state.idleTimer = setTimeout(() => {
      if (state.inFlight === 0) socket.destroy();
    }, remaining);
    state.idleTimer.unref();
  }

  private internalError(res: ServerResponse, where: string, e: unknown): void {
    // Name and stack frames only: an error message can quote a request body.
    const err = e instanceof Error ? e : new Error(String(e));
    this.log(`${where} failed: ${err.name} ${(err.stack ?? '').split('\n').slice(1, 4).join(' | ').trim()}`);
    if (!res.headersSent) sendError(res, 500, 'EMULATOR.0500', `emulator error in ${where}`);
    else res.destroy();
  }
}

/** Starts the emulator and resolves once it listens. */
export async function startEmulator(opts: EmulatorOptions = {}): Promise<RunningEmulator> {
  const emulator = new Emulator(opts);
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    emulator.server.once('error', reject);
    emulator.server.listen(opts.port ?? 0, host, () => {
      emulator.server.off('error', reject);
      resolve();
    });
  });
  const port = (emulator.server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    close: () => emulator.close(),
    ledger: (since) => emulator.ledger(since),
    clearLedger: () => emulator.clearLedger(),
    getFaults: () => emulator.getFaults(),
    setFaults: (partial) => emulator.setFaults(partial),
    getQps: () => emulator.getQps(),
    setQps: (partial) => emulator.setQps(partial),
    getLatency: () => emulator.getLatency(),
    setLatency: (partial) => emulator.setLatency(partial),
    setClock: (setting) => emulator.setClock(setting),
    now: () => emulator.now(),
    issueToken: (o) => emulator.issueToken(o),
  };
}
