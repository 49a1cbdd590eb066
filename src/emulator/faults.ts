// Fault injection: what makes the emulator useful for testing retries, timeouts and error
// accounting. Settable at start (options, EMULATOR_FAULTS) and at run time (PUT /__emulator/faults).

import { errorCode } from '../frs/error-codes';
import { OperationName } from '../frs/operations';
import { Random } from './random';
import { OPERATION_KEY_HINT, OperationKey, Problems, isOperationKey, isRecord } from './validation';

/** An injected error; `status` defaults to the error catalogue's status for the code. */
export type ErrorRate = number | { rate: number; status: number };

export interface StallFault {
  /** Share of calls held before they are answered (normally). */
  fraction: number;
  seconds: number;
}

export interface FaultSettings {
  /** Per operation or `*`: error code → share of calls answered with that error, e.g. `{"face_detect": {"FRS.0018": 0.5}}`. */
  errors: Partial<Record<OperationKey, Record<string, ErrorRate>>>;
  /** Per operation or `*` (an operation's own entry wins): calls held N seconds, then answered. */
  stalls: Partial<Record<OperationKey, StallFault>>;
  /** Per operation or `*`: share of calls whose connection is reset without an answer. A bare number means `*`. */
  resets: Partial<Record<OperationKey, number>>;
  /** Idle keep-alive connections are closed after this (server.keepAliveTimeout); FRS's gateway uses 300 s; 0 keeps them forever. */
  idleCloseSeconds: number;
  /** When set, errors, stalls and resets apply only inside [from, until) on the emulator clock. */
  window: { from?: string; until?: string } | null;
}

/** What a call to the control endpoint or `setFaults` may send: any subset of the keys; each given key replaces that key. */
export type FaultSettingsInput = Partial<Omit<FaultSettings, 'resets'>> & { resets?: FaultSettings['resets'] | number };

export const DEFAULT_FAULTS: FaultSettings = Object.freeze({
  errors: {},
  stalls: {},
  resets: {},
  idleCloseSeconds: 300,
  window: null,
}) as FaultSettings;

const MAX_STALL_SECONDS = 3600;
const KEYS = ['errors', 'stalls', 'resets', 'idleCloseSeconds', 'window'];

/** Checks a (partial) fault setting from JSON; throws EmulatorInputError listing every problem. */
export function validateFaults(input: unknown): Partial<FaultSettings> {
  const p = new Problems();
  if (!isRecord(input)) {
    p.add(`faults must be a JSON object with any of ${KEYS.join(', ')}`);
    p.throwIfAny();
  }
  const src = input as Record<string, unknown>;
  const out: Partial<FaultSettings> = {};
  for (const k of Object.keys(src)) if (!KEYS.includes(k)) p.add(`faults.${k} is not a setting: expected one of ${KEYS.join(', ')}`);

  if ('errors' in src) {
    const errors: FaultSettings['errors'] = {};
    if (!isRecord(src.errors)) p.add('faults.errors must be an object {operation|*: {code: rate}}');
    else {
      for (const [op, codes] of Object.entries(src.errors)) {
        if (!isOperationKey(op)) p.add(`faults.errors.${op}: expected ${OPERATION_KEY_HINT}`);
        else if (!isRecord(codes)) p.add(`faults.errors.${op} must be an object {code: rate}`);
        else errors[op] = validateCodes(p, `faults.errors.${op}`, codes);
      }
    }
    out.errors = errors;
  }

  if ('stalls' in src) {
    const stalls: FaultSettings['stalls'] = {};
    if (!isRecord(src.stalls)) p.add('faults.stalls must be an object {operation|*: {fraction, seconds}}');
    else {
      for (const [op, s] of Object.entries(src.stalls)) {
        if (!isOperationKey(op)) p.add(`faults.stalls.${op}: expected ${OPERATION_KEY_HINT}`);
        else if (!isRecord(s)) p.add(`faults.stalls.${op} must be {fraction, seconds}`);
        else {
          const fraction = p.number(`faults.stalls.${op}.fraction`, s.fraction, 0, 1);
          const seconds = p.number(`faults.stalls.${op}.seconds`, s.seconds, 0, MAX_STALL_SECONDS);
          if (fraction !== undefined && seconds !== undefined) stalls[op] = { fraction, seconds };
        }
      }
    }
    out.stalls = stalls;
  }

  if ('resets' in src) {
    const resets: FaultSettings['resets'] = {};
    if (typeof src.resets === 'number') {
      const f = p.number('faults.resets', src.resets, 0, 1);
      if (f !== undefined) resets['*'] = f;
    } else if (!isRecord(src.resets)) p.add('faults.resets must be a fraction or an object {operation|*: fraction}');
    else {
      for (const [op, f] of Object.entries(src.resets)) {
        if (!isOperationKey(op)) p.add(`faults.resets.${op}: expected ${OPERATION_KEY_HINT}`);
        else {
          const v = p.number(`faults.resets.${op}`, f, 0, 1);
          if (v !== undefined) resets[op] = v;
        }
      }
    }
    out.resets = resets;
  }

  if ('idleCloseSeconds' in src) {
    const v = p.number('faults.idleCloseSeconds', src.idleCloseSeconds, 0, 86_400);
    if (v !== undefined) out.idleCloseSeconds = v;
  }

  if ('window' in src) {
    if (src.window === null) out.window = null;
    else if (!isRecord(src.window)) p.add('faults.window must be null or {from?: ISO time, until?: ISO time}');
    else {
      const w: { from?: string; until?: string } = {};
      for (const k of ['from', 'until'] as const) {
        const v = src.window[k];
        if (v === undefined) continue;
        if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) p.add(`faults.window.${k} must be an ISO time, got ${JSON.stringify(v)}`);
        else w[k] = new Date(v).toISOString();
      }
      out.window = w;
    }
  }
  p.throwIfAny();
  return out;
}

function validateCodes(p: Problems, where: string, codes: Record<string, unknown>): Record<string, ErrorRate> {
  const out: Record<string, ErrorRate> = {};
  let total = 0;
  for (const [code, v] of Object.entries(codes)) {
    if (typeof v === 'number') {
      const rate = p.number(`${where}.${code}`, v, 0, 1);
      if (!errorCode(code)) p.add(`${where}.${code}: not in the error catalogue; give {"rate": r, "status": s} to inject it anyway`);
      else if (rate !== undefined) {
        out[code] = rate;
        total += rate;
      }
    } else if (isRecord(v)) {
      const rate = p.number(`${where}.${code}.rate`, v.rate, 0, 1);
      const status = p.number(`${where}.${code}.status`, v.status, 400, 599);
      if (status !== undefined && !Number.isInteger(status)) p.add(`${where}.${code}.status must be a whole number`);
      else if (rate !== undefined && status !== undefined) {
        out[code] = { rate, status };
        total += rate;
      }
    } else p.add(`${where}.${code} must be a rate from 0 to 1 or {rate, status}`);
  }
  if (total > 1 + 1e-9) p.add(`${where}: rates add up to ${Math.round(total * 1000) / 1000}, more than 1`);
  return out;
}

function cloneFaults(f: FaultSettings): FaultSettings {
  return JSON.parse(JSON.stringify(f)) as FaultSettings;
}

/** Draws the faults for each call from the settings in force. */
export class FaultInjector {
  private settings: FaultSettings;

  constructor(
    initial: FaultSettingsInput | undefined,
    private readonly rand: Random,
    private readonly now: () => Date,
  ) {
    this.settings = cloneFaults(DEFAULT_FAULTS);
    if (initial) this.set(initial);
  }

  get(): FaultSettings {
    return cloneFaults(this.settings);
  }

  /** Validates and applies a partial setting: each key given replaces the current one. */
  set(partial: unknown): FaultSettings {
    const valid = validateFaults(partial);
    this.settings = { ...this.settings, ...(JSON.parse(JSON.stringify(valid)) as Partial<FaultSettings>) };
    return this.get();
  }

  get idleCloseSeconds(): number {
    return this.settings.idleCloseSeconds;
  }

  /** True when this call's connection should be reset without an answer. */
  reset(op: OperationName): boolean {
    const f = this.settings.resets[op] ?? this.settings.resets['*'];
    return f !== undefined && f > 0 && this.inWindow() && this.rand() < f;
  }

  /** Seconds to hold this call before answering it; 0 for none. */
  stallSeconds(op: OperationName): number {
    const s = this.settings.stalls[op] ?? this.settings.stalls['*'];
    if (!s || s.fraction <= 0 || s.seconds <= 0 || !this.inWindow()) return 0;
    return this.rand() < s.fraction ? s.seconds : 0;
  }

  /** The error to answer this call with, if one is drawn. One draw over the stacked rates. */
  error(op: OperationName): { code: string; status: number } | undefined {
    const all = this.settings.errors['*'];
    const own = this.settings.errors[op];
    if (!all && !own) return undefined;
    const rates = { ...all, ...own };
    if (Object.keys(rates).length === 0 || !this.inWindow()) return undefined;
    const u = this.rand();
    let cumulative = 0;
    for (const [code, r] of Object.entries(rates)) {
      cumulative += typeof r === 'number' ? r : r.rate;
      if (u < cumulative) {
        return { code, status: typeof r === 'number' ? (errorCode(code)?.status ?? 500) : r.status };
      }
    }
    return undefined;
  }

  private inWindow(): boolean {
    const w = this.settings.window;
    if (!w) return true;
    const t = this.now().getTime();
    if (w.from !== undefined && t < Date.parse(w.from)) return false;
    if (w.until !== undefined && t >= Date.parse(w.until)) return false;
    return true;
  }
}
