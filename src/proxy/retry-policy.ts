// Which failed upstream attempts are tried again, and after how long. The rule that matters most:
// an attempt that may have reached FRS is never repeated for an operation that is not
// idempotent (face_add, face_set_create, unknown), because a second attempt would create a
// second face (and a second billed call). Everything here is a pure decision; the proxy's
// forward loop acts on it and asks the RetryBudget before each retry.

import { Config } from '../config/config';
import { errorCode as lookupErrorCode } from '../frs/error-codes';
import { OperationSpec } from '../frs/operations';
import type { AttemptOutcome } from '../metrics/metrics.service';

export interface RetryDecision {
  readonly retry: boolean;
  /** Short machine-readable cause, for logs and tests. */
  readonly reason: string;
}

/**
 * Connection errors raised before the request could have left this host: no socket was ever
 * connected, so FRS cannot have seen (or billed) the request and a retry is safe even for
 * face_add. Everything else — ECONNRESET, EPIPE, UND_ERR_SOCKET ("other side closed"), a
 * timeout — may come after the request bytes were written, so FRS may be processing it.
 */
export const NEVER_SENT_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** Codes answered by flow control (QPS exceeded, system busy): the request was turned away, retry after a pause. */
const THROTTLE_CODES: ReadonlySet<string> = new Set(['FRS.0033', 'FRS.0120', 'APIG.0308', 'APIGW.0308']);

export class RetryPolicy {
  constructor(
    private readonly config: Pick<Config, 'retry'>,
    /** Uniform in [0, 1); injectable so tests can pin the jitter. */
    private readonly random: () => number = Math.random,
  ) {}

  /**
   * Attempts that may reach FRS for one request of `operation` (the first included). A
   * non-idempotent operation gets one; only a connection that was never made is tried again.
   */
  maxAttempts(operation: OperationSpec): number {
    return operation.idempotent ? this.config.retry.maxAttempts : 1;
  }

  /**
   * After attempt number `attempt` (1-based, just finished) ended with `outcome`, try again?
   * `errorCode` is the FRS/APIG code from the error body for answered attempts, and the Node or
   * undici error code (`err.code`, see `connectionErrorCode`) for `connection_error`.
   * An expired upstream token is not decided here: check `isAuthExpired` first.
   */
  decide(operation: OperationSpec, attempt: number, outcome: AttemptOutcome, errorCode: string | undefined): RetryDecision {
    if (outcome === 'success') return { retry: false, reason: 'success' };
    if (attempt >= this.config.retry.maxAttempts) return { retry: false, reason: 'max_attempts' };
    if (outcome === 'connection_error' && errorCode !== undefined && NEVER_SENT_ERROR_CODES.has(errorCode)) {
      return { retry: true, reason: 'connect_failed' };
    }
    if (!operation.idempotent) return { retry: false, reason: 'not_idempotent' };
    // The attempt may have been completed and billed: retry only where the operator accepts paying twice.
    if ((outcome === 'timeout' || outcome === 'connection_error') && this.config.retry.afterTimeout !== undefined && !this.config.retry.afterTimeout.includes(operation.name)) {
      return { retry: false, reason: 'possibly_billed' };
    }
    switch (outcome) {
      case 'timeout':
        return { retry: true, reason: 'timeout' };
      case 'connection_error':
        return { retry: true, reason: 'connection_error' };
      case 'throttled':
        return { retry: true, reason: 'throttled' };
      case 'server_error':
        // Every 5xx: FRS.0018 (internal error), APIG.0201/APIGW.0201 (backend timeout, 504), a
        // bare 502/503 from a load balancer. A 501 would not heal, but FRS does not send one.
        return { retry: true, reason: errorCode ? `server_error:${errorCode}` : 'server_error' };
      case 'client_error':
        // A flow-control answer that reached us with an unexpected status still means "later".
        if (errorCode !== undefined && THROTTLE_CODES.has(errorCode)) return { retry: true, reason: 'throttled' };
        return { retry: false, reason: 'client_error' };
    }
  }

  /**
   * Pause before the retry that follows attempt `attempt`: full jitter,
   * random(0, min(backoffMaxMs, backoffBaseMs × 2^attempt)) — spreads retries of a burst of
   * failures instead of sending them back in lockstep. After a throttled answer the pause is
   * drawn over the whole backoffMaxMs (1 s by default): FRS counts QPS per second, so an early
   * retry would mostly hit the same full second again.
   */
  backoffMs(attempt: number, outcome?: AttemptOutcome): number {
    return Math.floor(this.random() * this.maxBackoffMs(attempt, outcome));
  }

  /** The largest pause `backoffMs(attempt, outcome)` can return; with `throttled`, the worst case. */
  maxBackoffMs(attempt: number, outcome?: AttemptOutcome): number {
    const { backoffBaseMs, backoffMaxMs } = this.config.retry;
    if (outcome === 'throttled') return backoffMaxMs;
    return Math.min(backoffMaxMs, backoffBaseMs * 2 ** attempt);
  }

  /**
   * The upstream token was rejected (APIG.0301/APIGW.0301 401, FRS.0002 403): the attempt was
   * turned away at the door and not processed, so for EVERY operation, face_add included, the
   * proxy refreshes the token and tries once more. A 401 without a readable code is treated the
   * same: it cannot be anything but an authentication failure.
   */
  isAuthExpired(status: number, errorCode: string | undefined): boolean {
    if (errorCode === undefined) return status === 401;
    const spec = lookupErrorCode(errorCode);
    return spec?.authExpired === true && (status === 401 || status === 403);
  }
}

/**
 * The error code to hand to `decide` for a failed undici request: undici wraps socket errors
 * (`UND_ERR_SOCKET` with the Node error as `cause`) and Node 20 reports a refused connection to
 * a multi-address host as an AggregateError; the innermost connect error decides.
 */
export function connectionErrorCode(err: unknown): string | undefined {
  let outer: string | undefined;
  let level: unknown[] = [err];
  for (let depth = 0; depth < 4 && level.length > 0; depth++) {
    const next: unknown[] = [];
    for (const e of level) {
      if (typeof e !== 'object' || e === null) continue;
      const { code, cause, errors } = e as { code?: unknown; cause?: unknown; errors?: unknown };
      if (typeof code === 'string') {
        if (NEVER_SENT_ERROR_CODES.has(code)) return code;
        outer ??= code;
      }
      if (cause !== undefined) next.push(cause);
      if (Array.isArray(errors)) next.push(...(errors as unknown[]));
    }
    level = next;
  }
  return outer;
}
