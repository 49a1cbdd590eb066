// Shared checks for settings that arrive as JSON (control endpoint, env vars): each problem is
// reported with the path of the offending value, so a bad PUT or EMULATOR_* value says what to fix.

import { OPERATION_NAMES, OperationName } from '../frs/operations';

export class EmulatorInputError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('; '));
    this.name = 'EmulatorInputError';
  }
}

/** An operation name, or `*` for every operation. */
export type OperationKey = OperationName | '*';

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function isOperationKey(k: string): k is OperationKey {
  return k === '*' || (OPERATION_NAMES as readonly string[]).includes(k);
}

export function isOperationName(k: string): k is OperationName {
  return (OPERATION_NAMES as readonly string[]).includes(k);
}

export const OPERATION_KEY_HINT = `an operation (${OPERATION_NAMES.join(', ')}) or *`;

/** Collects problems; `check` returns the value when it is a finite number within [min, max]. */
export class Problems {
  readonly list: string[] = [];

  add(message: string): void {
    this.list.push(message);
  }

  number(where: string, v: unknown, min: number, max: number): number | undefined {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      this.list.push(`${where} must be a number from ${min} to ${max}, got ${JSON.stringify(v)}`);
      return undefined;
    }
    return v;
  }

  throwIfAny(): void {
    if (this.list.length > 0) throw new EmulatorInputError(this.list);
  }
}
