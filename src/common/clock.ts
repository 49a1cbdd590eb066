// Time as a swappable side effect: month boundaries, token expiry, QPS windows and forecasts
// are tested by passing time in, not by waiting (STYLE habit 2).

export abstract class Clock {
  /** Milliseconds since the epoch. */
  abstract now(): number;

  date(): Date {
    return new Date(this.now());
  }
}

export class SystemClock extends Clock {
  now(): number {
    return Date.now();
  }
}

/** A clock that tests set and move by hand; it still advances with real time unless frozen. */
export class ManualClock extends Clock {
  private offset: number;
  private frozenAt?: number;

  constructor(start?: Date | string | number, opts: { frozen?: boolean } = {}) {
    super();
    const t = start === undefined ? Date.now() : new Date(start).getTime();
    this.offset = t - Date.now();
    if (opts.frozen) this.frozenAt = t;
  }

  now(): number {
    return this.frozenAt ?? Date.now() + this.offset;
  }

  set(to: Date | string | number): void {
    const t = new Date(to).getTime();
    if (this.frozenAt !== undefined) this.frozenAt = t;
    else this.offset = t - Date.now();
  }

  advance(ms: number): void {
    if (this.frozenAt !== undefined) this.frozenAt += ms;
    else this.offset += ms;
  }
}
