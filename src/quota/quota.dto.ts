// Admin input for QPS and call packages, checked before anything is written: every problem is
// listed in one METER.0400 answer.

import { Config, isBillable } from '../config/config';
import { OPERATION_BY_NAME, OperationName, KNOWN_OPERATIONS } from '../frs/operations';
import { badRequest } from '../admin/meter-error';

export interface QpsPackageInput {
  readonly qps: number;
  readonly startsAt: number;
  readonly expiresAt: number;
}

export interface CallPackageInput {
  readonly id: string;
  readonly operations: OperationName[];
  readonly totalCalls: number;
  readonly usedCalls: number;
  readonly startsAt: number;
  readonly expiresAt: number;
  /** When used_calls was read off Huawei's console (default now). */
  readonly usedAsOf: number;
}

const KNOWN = KNOWN_OPERATIONS.map((o) => o.name);
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;
const PACKAGE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
const MAX_QPS = 100_000;

class Problems {
  readonly list: string[] = [];
  add(p: string): void {
    this.list.push(p);
  }
  throwIfAny(): void {
    if (this.list.length > 0) throw badRequest(this.list.join('; '));
  }
}

export function parseOperation(raw: string): OperationName {
  if (!(KNOWN as string[]).includes(raw)) {
    throw badRequest(`unknown operation "${raw}": expected one of ${KNOWN.join(', ')}`);
  }
  return raw as OperationName;
}

function body(raw: unknown, allowed: readonly string[], p: Problems): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    p.add('expected a JSON object body');
    p.throwIfAny();
  }
  const obj = raw as Record<string, unknown>;
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) p.add(`unknown field "${k}" (expected ${allowed.join(', ')})`);
  return obj;
}

function instant(name: string, v: unknown, p: Problems, fallback?: number): number | undefined {
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'string' || !ISO_INSTANT.test(v) || !realDateTime(v)) {
    p.add(`${name} must be an ISO 8601 time with its offset, e.g. "2026-01-01T00:00:00+08:00"${v === undefined ? ' (required)' : `, got ${JSON.stringify(v)}`}`);
    return undefined;
  }
  return Date.parse(v);
}

/** Date.parse rolls 2030-02-30 over to March; a package date like that is a typo, not a date. */
function realDateTime(v: string): boolean {
  const [y, mo, d, h, mi, sec] = [v.slice(0, 4), v.slice(5, 7), v.slice(8, 10), v.slice(11, 13), v.slice(14, 16), v.slice(17, 19)].map(Number);
  const days = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  return mo >= 1 && mo <= 12 && d >= 1 && d <= days && h <= 23 && mi <= 59 && (Number.isNaN(sec) || sec <= 59) && !Number.isNaN(Date.parse(v));
}

function wholeNumber(name: string, v: unknown, min: number, max: number, p: Problems): number | undefined {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    p.add(`${name} must be a whole number from ${min} to ${max}${v === undefined ? ' (required)' : `, got ${JSON.stringify(v)}`}`);
    return undefined;
  }
  return v;
}

function window(startsAt: number | undefined, expiresAt: number | undefined, p: Problems): void {
  if (startsAt !== undefined && expiresAt !== undefined && expiresAt <= startsAt) p.add('expires_at must be after starts_at');
}

/** `PUT /admin/qps-packages/{operation}` body; starts_at defaults to now. */
export function parseQpsPackage(raw: unknown, nowMs: number): QpsPackageInput {
  const p = new Problems();
  const b = body(raw, ['qps', 'starts_at', 'expires_at'], p);
  const qps = wholeNumber('qps', b.qps, 1, MAX_QPS, p);
  const startsAt = instant('starts_at', b.starts_at, p, nowMs);
  const expiresAt = instant('expires_at', b.expires_at, p);
  window(startsAt, expiresAt, p);
  p.throwIfAny();
  return { qps: qps as number, startsAt: startsAt as number, expiresAt: expiresAt as number };
}

/**
 * `POST /admin/call-packages` body (and `PUT /admin/call-packages/{id}` with the id from the
 * path); used_calls defaults to 0, starts_at and used_as_of to now.
 */
export function parseCallPackage(raw: unknown, config: Config, nowMs: number, pathId?: string): CallPackageInput {
  const p = new Problems();
  const b = body(raw, pathId === undefined ? ['id', 'operations', 'total_calls', 'used_calls', 'used_as_of', 'starts_at', 'expires_at'] : ['operations', 'total_calls', 'used_calls', 'used_as_of', 'starts_at', 'expires_at'], p);
  if (pathId !== undefined) b.id = pathId;
  if (typeof b.id !== 'string' || !PACKAGE_ID.test(b.id)) {
    p.add(`id must be 1-64 characters of letters, digits, ".", "_", ":" or "-", starting with a letter or digit${b.id === undefined ? ' (required)' : `, got ${JSON.stringify(b.id)}`}`);
  }
  const operations: OperationName[] = [];
  if (!Array.isArray(b.operations) || b.operations.length === 0) {
    p.add('operations must be a non-empty array of billable operation names, e.g. ["face_detect", "face_compare"]');
  } else {
    for (const op of b.operations) {
      if (typeof op !== 'string' || !(KNOWN as string[]).includes(op)) p.add(`operations: unknown operation ${JSON.stringify(op)} (expected one of ${KNOWN.join(', ')})`);
      else if (!isBillable(config, op as OperationName)) p.add(`operations: ${op} is not billable, so a call package never pays for it`);
      else if (operations.includes(op as OperationName)) p.add(`operations: ${op} is listed twice`);
      else operations.push(OPERATION_BY_NAME[op as OperationName].name);
    }
  }
  const total = wholeNumber('total_calls', b.total_calls, 1, Number.MAX_SAFE_INTEGER, p);
  const used = wholeNumber('used_calls', b.used_calls ?? 0, 0, Number.MAX_SAFE_INTEGER, p);
  if (total !== undefined && used !== undefined && used > total) p.add(`used_calls (${used}) must not exceed total_calls (${total})`);
  const startsAt = instant('starts_at', b.starts_at, p, nowMs);
  const expiresAt = instant('expires_at', b.expires_at, p);
  const usedAsOf = instant('used_as_of', b.used_as_of, p, nowMs);
  window(startsAt, expiresAt, p);
  if (usedAsOf !== undefined && usedAsOf > nowMs + 60_000) p.add('used_as_of must not be in the future: it is when used_calls was read');
  p.throwIfAny();
  return { id: b.id as string, operations, totalCalls: total as number, usedCalls: used as number, startsAt: startsAt as number, expiresAt: expiresAt as number, usedAsOf: usedAsOf as number };
}
