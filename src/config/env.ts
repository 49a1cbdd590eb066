// Readers for environment variables that collect every problem instead of stopping at the
// first, so a bad start lists all of them at once (STYLE habit 3).

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

export class EnvReader {
  readonly problems: string[] = [];

  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }

  string(name: string, fallback: string): string;
  string(name: string): string | undefined;
  string(name: string, fallback?: string): string | undefined {
    return this.raw(name) ?? fallback;
  }

  required(name: string, expected: string): string {
    const v = this.raw(name);
    if (v === undefined) {
      this.problems.push(`${name} is required: ${expected}`);
      return '';
    }
    return v;
  }

  int(name: string, fallback: number, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if (!/^-?\d+$/.test(v) || Number(v) < min || Number(v) > max) {
      this.problems.push(`${name}=${JSON.stringify(v)} is not valid: expected a whole number from ${min} to ${max}`);
      return fallback;
    }
    return Number(v);
  }

  number(name: string, fallback: number, min = -Infinity, max = Infinity): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) {
      this.problems.push(`${name}=${JSON.stringify(v)} is not valid: expected a number from ${min} to ${max}`);
      return fallback;
    }
    return n;
  }

  bool(name: string, fallback: boolean): boolean {
    const v = this.raw(name)?.toLowerCase();
    if (v === undefined) return fallback;
    if (['1', 'true', 'on', 'yes'].includes(v)) return true;
    if (['0', 'false', 'off', 'no'].includes(v)) return false;
    this.problems.push(`${name}=${JSON.stringify(v)} is not valid: expected on/off (true/false, 1/0)`);
    return fallback;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(v)) {
      this.problems.push(`${name}=${JSON.stringify(v)} is not valid: expected one of ${allowed.join(', ')}`);
      return fallback;
    }
    return v as T;
  }

  /** A comma-separated list whose items must each pass `allowed` when given. */
  list(name: string, fallback: readonly string[], allowed?: readonly string[]): string[] {
    const v = this.env[name];
    if (v === undefined) return [...fallback];
    const items = v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    if (allowed) {
      const bad = items.filter((i) => !allowed.includes(i));
      if (bad.length > 0) {
        this.problems.push(`${name} has unknown value(s) ${bad.join(', ')}: expected a comma-separated list of ${allowed.join(', ')}`);
      }
    }
    return items;
  }

  url(name: string, fallback?: string): string | undefined {
    const v = this.raw(name) ?? fallback;
    if (v === undefined) return undefined;
    try {
      const u = new URL(v);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol');
      return v.replace(/\/+$/, '');
    } catch {
      this.problems.push(`${name}=${JSON.stringify(v)} is not valid: expected an http(s) URL such as https://face.cn-north-4.myhuaweicloud.com`);
      return undefined;
    }
  }

  timezone(name: string, fallback: string): string {
    const v = this.raw(name) ?? fallback;
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: v });
      return v;
    } catch {
      this.problems.push(`${name}=${JSON.stringify(v)} is not valid: expected an IANA time zone such as Asia/Shanghai`);
      return fallback;
    }
  }

  problem(message: string): void {
    this.problems.push(message);
  }
}
