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

export type ReadBody =
  | { readonly ok: true; readonly body: Buffer; readonly sha256?: string }
  | { readonly ok: false; readonly reason: 'too_large' | 'aborted' };

/**
 * `length` is the declared Content-Length (already checked against `limit`), or -1 for a
 * chunked body. Resolves `too_large` after limit + 1 bytes, `aborted` when the client goes away.
 */
export function readBody(req: IncomingMessage, length: number, limit: number, withHash: boolean): ReadBody | Promise<ReadBody> {
  if (length === 0) return { ok: true, body: EMPTY, sha256: withHash ? EMPTY_BODY_SHA256 : undefined };
  return new Promise((resolve) => {
    const hash = withHash ? createHash('sha256') : undefined;
    const buffer = length > 0 ? Buffer.allocUnsafe(length) : undefined;
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (result: ReadBody) => {
      if (done) return;
      done = true;
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
      finish({ ok: true, body, sha256: hash?.digest('hex') });
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
