// What the emulator answered, call by call: the ground truth that tests and the BSS plugin
// compare the proxy's metering against. Holds hashes, never bodies or credentials.

import { OperationName } from '../frs/operations';

export interface LedgerEntry {
  /** Increases by one per entry for the emulator's life; clearing does not reset it. */
  readonly seq: number;
  /** When the answer was written, ISO, from the emulator clock. */
  readonly time: string;
  readonly operation: OperationName;
  readonly method: string;
  /** URL path without the query. */
  readonly path: string;
  readonly projectId?: string;
  /** HTTP status sent; 0 when the connection was reset without an answer. */
  readonly status: number;
  readonly errorCode?: string;
  /** The AK of an AK/SK-signed call. */
  readonly accessKey?: string;
  /** Set to the word 'token' for a token-authenticated call; the token itself is never kept. */
  readonly token?: 'token';
  readonly requestId: string;
  /** Hex SHA-256 of the request body as received. */
  readonly bodySha256: string;
  /** The X-Sdk-Content-Sha256 the call declared (a hex hash or UNSIGNED-PAYLOAD), when it sent one. */
  readonly declaredContentSha256?: string;
}

const TRIM_BATCH = 1024;

export class Ledger {
  private entries: LedgerEntry[] = [];
  private nextSeq = 1;

  /**
   * `limit` bounds memory in long runs (`npm run emulator` under load): past it, the oldest
   * entries are dropped in batches, so trimming does not cost a copy per call.
   */
  constructor(private readonly limit = 100_000) {}

  record(entry: Omit<LedgerEntry, 'seq'>): LedgerEntry {
    const full = Object.freeze({ seq: this.nextSeq++, ...entry });
    this.entries.push(full);
    if (this.entries.length > this.limit + TRIM_BATCH) this.entries.splice(0, this.entries.length - this.limit);
    return full;
  }

  /** Entries with seq greater than `since` (all when omitted), oldest first. */
  list(since?: number): LedgerEntry[] {
    if (since === undefined) return this.entries.slice();
    return this.entries.filter((e) => e.seq > since);
  }

  clear(): void {
    this.entries = [];
  }
}
