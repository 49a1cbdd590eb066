// The extension point of the emulator: a plugin answers routes the FRS/IAM emulation does not
// know (the BSS billing API in src/emulator/bss/ is one). Plugins see every request before the
// FRS routes, so they may claim paths under /v1 or /v2 (BSS's /v2/bills/... paths are).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LedgerEntry } from './ledger';

/** Outcome of the FRS authentication rules (token or AK/SK), for plugins to reuse. */
export type AuthResult =
  | { ok: true; method: 'aksk'; accessKey: string }
  | { ok: true; method: 'token'; username: string; domainName: string; projectId?: string }
  | { ok: false; status: 401; code: 'APIG.0301' | 'APIGW.0303'; message: string };

export interface EmulatorContext {
  /** FRS calls answered so far (entries with seq > `since` when given), oldest first. */
  ledger(since?: number): LedgerEntry[];
  /** The emulator clock (follows setClock / PUT /__emulator/clock). */
  now(): Date;
  /**
   * Checks X-Auth-Token (a token this emulator issued, not expired) or an SDK-HMAC-SHA256
   * Authorization against the configured AK/SK pairs; `body` must be the buffer the plugin was
   * handed (its hash is reused, not recomputed). Missing credentials fail with APIG.0301.
   */
  verifyAuth(req: IncomingMessage, body: Buffer): AuthResult;
  /** Writes a JSON answer with Content-Type application/json;charset=UTF-8 (X-Request-Id is already set). */
  sendJson(res: ServerResponse, status: number, obj: unknown, headers?: Record<string, string>): void;
  /** Writes `{"error_code": code, "error_msg": msg}` with `status`. */
  sendError(res: ServerResponse, status: number, code: string, msg: string): void;
}

export interface EmulatorPlugin {
  /** Shown in logs and errors. */
  readonly name: string;
  /**
   * Called for every request outside /__emulator/, before IAM and FRS routing, in plugin order.
   * Return true when the plugin answered (it must then have ended `res`); false to pass on.
   * `body` is the whole request body; requests with bodies over 8 MiB never reach plugins.
   * A thrown error is answered 500 and logged with the plugin name (never the body).
   */
  handle(req: IncomingMessage, res: ServerResponse, body: Buffer, ctx: EmulatorContext): Promise<boolean>;
  /** Called once when the emulator closes. */
  close?(): Promise<void> | void;
}
