// Retries as a bounded share of traffic, so retrying never multiplies an outage: when half of
// FRS's answers are 503, per-request retries alone would nearly double the load on a struggling
// upstream. Over the last minute, retries may be at most budgetRatio × requests (10 %), with a
// floor of budgetMinPerMinute so a quiet service still retries its rare failures. Upstream
// attempts are therefore ≤ requests × (1 + ratio) + floor per minute, whatever fails.
// (The same idea as gRPC's retry throttling and Finagle's RetryBudget.)

import { Config } from '../config/config';

const BUCKETS = 60;
const BUCKET_MS = 1_000;

export interface RetryBudgetState {
  /** Requests seen over the last minute. */
  readonly requests: number;
  /** Retries granted over the last minute. */
  readonly retries: number;
  /** Retries the budget allows over the last minute. */
  readonly allowed: number;
}

export class RetryBudget {
  private readonly requests = new Uint32Array(BUCKETS);
  private readonly retries = new Uint32Array(BUCKETS);
  /** Second (floor(now / 1000)) the newest bucket holds. */
  private head = -1;
  private requestSum = 0;
  private retrySum = 0;

  constructor(private readonly config: Pick<Config, 'retry'>) {}

  /** Counts one client request (every request, whether it will fail or not). */
  onRequest(nowMs: number): void {
    const i = this.advance(nowMs);
    this.requests[i]++;
    this.requestSum++;
  }

  /** Asks for one retry; when granted it is counted against the budget at once. */
  tryAcquire(nowMs: number): boolean {
    const i = this.advance(nowMs);
    if (this.retrySum >= this.allowed()) return false;
    this.retries[i]++;
    this.retrySum++;
    return true;
  }

  state(nowMs: number): RetryBudgetState {
    this.advance(nowMs);
    return { requests: this.requestSum, retries: this.retrySum, allowed: this.allowed() };
  }

  private allowed(): number {
    const { budgetRatio, budgetMinPerMinute } = this.config.retry;
    return Math.max(budgetMinPerMinute, Math.floor(budgetRatio * this.requestSum));
  }

  /** Moves the ring to the current second, dropping seconds that left the minute; returns its index. O(1) amortised. */
  private advance(nowMs: number): number {
    const second = Math.floor(nowMs / BUCKET_MS);
    if (second > this.head) {
      const steps = this.head < 0 ? BUCKETS : Math.min(BUCKETS, second - this.head);
      for (let k = 1; k <= steps; k++) {
        const j = (second - steps + k) % BUCKETS;
        this.requestSum -= this.requests[j];
        this.retrySum -= this.retries[j];
        this.requests[j] = 0;
        this.retries[j] = 0;
      }
      this.head = second;
    }
    // A clock that steps back lands in the newest bucket rather than corrupting older ones.
    return this.head % BUCKETS;
  }
}
