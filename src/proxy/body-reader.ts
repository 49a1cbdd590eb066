// Reads a proxied request's body straight off the socket: into one buffer allocated once from
// Content-Length (each socket chunk copied in and released at once), or for a chunked body into
// the list of chunks as received, joined once at the end. The size limit is enforced by counting
// bytes, so a chunked body is refused as soon as byte limit + 1 arrives. When a SHA-256 is
// needed (FRS_METER_SIGN_BODY=on, or an AK/SK client's signature) it is updated chunk by chunk as
// the bytes arrive — never a second pass over the assembled body.

import type { IncomingMessage } from 'node:http';
import { createHash } from 'node:crypto';
import { EMPTY_BODY_SHA256 } from '../frs/signer';

export const EMPTY = Buffer.alloc(0);

const MIN_CLASS = 64 * 1024;
const MAX_CLASS = 16 * 1024 * 1024;

/**
 * Body buffers reused across requests, by power-of-two size class. A fresh 200 KB backing store
 * per image body is garbage the GC only frees at its next cycle; at a thousand calls a second
 * that is the bulk of the process's resident memory and of its full collections. A buffer goes
 * back once its request is answered (its bytes are then never sent again; a reused buffer is
 * overwritten from the start and only the new body's length is ever read). Bounded in bytes.
 */
export class BodyPool {
  private readonly free = new Map<number, Buffer[]>();
  private pooled = 0;

  constructor(private readonly maxBytes = 32 * 1024 * 1024) {}

  /** A buffer of at least `length` bytes; the body is its first `length` bytes. */
  acquire(length: number): Buffer {
    if (length < MIN_CLASS / 2 || length > MAX_CLASS) return Buffer.allocUnsafe(length);
    const size = sizeClass(length);
    const list = this.free.get(size);
    const b = list?.pop();
    if (b !== undefined) {
      this.pooled -= size;
      return b;
    }
    return Buffer.allocUnsafe(size);
  }

  /** Gives back a buffer from acquire() (or any Buffer: those of other sizes are dropped). */
  release(buffer: Buffer): void {
    const size = buffer.length;
    if (size < MIN_CLASS || size > MAX_CLASS || size !== sizeClass(size) || this.pooled + size > this.maxBytes) return;
    let list = this.free.get(size);
    if (list === undefined) this.free.set(size, (list = []));
    list.push(buffer);
    this.pooled += size;
  }
}

function sizeClass(n: number): number {
  return Math.max(MIN_CLASS, 2 ** Math.ceil(Math.log2(n)));
}

export type ReadBody =
  /** `backing` (when set) is the pooled buffer `body` lies in, to release once answered. */
  | { readonly ok: true; readonly body: Buffer; readonly sha256?: string; readonly backing?: Buffer }
  | { readonly ok: false; readonly reason: 'too_large' | 'aborted' };

/**
 * `length` is the declared Content-Length (already checked against `limit`), or -1 for a
 * chunked body. Resolves `too_large` after limit + 1 bytes, `aborted` when the client goes away.
 */
export function readBody(req: IncomingMessage, length: number, limit: number, withHash: boolean, pool?: BodyPool): ReadBody | Promise<ReadBody> {
  if (length === 0) return { ok: true, body: EMPTY, sha256: withHash ? EMPTY_BODY_SHA256 : undefined };
  return new Promise((resolve) => {
    const hash = withHash ? createHash('sha256') : undefined;
    const buffer = length > 0 ? (pool ? pool.acquire(length) : Buffer.allocUnsafe(length)) : undefined;
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (result: ReadBody) => {
      if (done) return;
      done = true;
      if (!result.ok && buffer && pool) pool.release(buffer);
      req.removeListener('data', onData);
      req.removeListener('end', onEnd);
      req.removeListener('error', onAbort);
      req.removeListener('close', onClose);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      if (size + chunk.length > limit) {
        // Only a chunked body gets here (a declared length over the limit is refused unread):
        // stop keeping bytes; the rest is discarded and the connection closed after the 413.
        finish({ ok: false, reason: 'too_large' });
        req.resume();
        return;
      }
      if (hash) hash.update(chunk);
      if (buffer) chunk.copy(buffer, size);
      else chunks.push(chunk);
      size += chunk.length;
    };
    const onEnd = () => {
      const body = buffer ? (size === buffer.length ? buffer : buffer.subarray(0, size)) : chunks.length === 1 ? chunks[0] : chunks.length === 0 ? EMPTY : Buffer.concat(chunks, size);
      finish({ ok: true, body, sha256: hash?.digest('hex'), backing: pool ? buffer : undefined });
    };
    const onAbort = () => finish({ ok: false, reason: 'aborted' });
    const onClose = () => {
      if (!req.complete) onAbort();
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAbort);
    req.on('close', onClose);
  });
}
