// The one place for admin HTTP helpers: error bodies, query validation and CSV. Controllers
// declare the query parameters a route takes with @AdminQuery; the admin guard checks them
// (repeated, unknown or mistyped → 400 METER.0400 naming the parameter) before the handler runs.

import { createParamDecorator, ExecutionContext, ForbiddenException, SetMetadata } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { stringify } from 'csv-stringify/sync';
import { MONTH_RE } from '../common/billing-month';
import type { AdminActor } from './admin-tokens';
import { badRequest, meterError, notFound } from './meter-error';

export { badRequest, meterError, notFound };

export function forbidden(message: string): ForbiddenException {
  return new ForbiddenException(meterError('METER.0403', message));
}

// ---------------------------------------------------------------- query parameters

/** 'string': any text; 'month': YYYY-MM; 'instant': ISO 8601 with offset; {int}: whole number in range; a list: one of those words. */
export type QueryParam = 'string' | 'month' | 'instant' | { readonly int: readonly [number, number] } | readonly string[];
export type QuerySpec = Readonly<Record<string, QueryParam>>;
type ValueOf<P> = P extends { readonly int: readonly [number, number] } ? number : P extends 'instant' ? number : P extends readonly (infer E)[] ? E : string;
/** The parsed query of a route: each declared parameter, absent when not sent. */
export type QueryOf<S extends QuerySpec> = { readonly [K in keyof S]?: ValueOf<S[K]> };

export const FORMAT = ['json', 'csv'] as const;
export const ADMIN_QUERY = 'frs-meter:admin-query';
export const ADMIN_ACCESS = 'frs-meter:admin-access';

/** Declares the query parameters a route accepts; any other one is refused. */
export const AdminQuery = (spec: QuerySpec) => SetMetadata(ADMIN_QUERY, spec);

/**
 * Overrides what a route needs: by default GET/HEAD read and every other method changes.
 * Only for the odd route whose method says otherwise.
 */
export const AdminAccess = (access: 'read' | 'change') => SetMetadata(ADMIN_ACCESS, access);

interface AdminRequest {
  adminQuery?: Record<string, unknown>;
  adminActor?: AdminActor;
}

/** The route's query, as the guard checked it. */
export const ParsedQuery = createParamDecorator((_data: unknown, ctx: ExecutionContext) => ctx.switchToHttp().getRequest<AdminRequest>().adminQuery ?? {});

/** The token that made the call, as the guard found it. */
export const Actor = createParamDecorator((_data: unknown, ctx: ExecutionContext): AdminActor => {
  const actor = ctx.switchToHttp().getRequest<AdminRequest>().adminActor;
  if (!actor) throw new Error('@Actor() used on a route without AdminAuthGuard');
  return actor;
});

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

/** Checks a raw query against a spec; every problem is named in one METER.0400. */
export function parseAdminQuery<S extends QuerySpec>(raw: Record<string, unknown> | undefined, spec: S): QueryOf<S> {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(raw ?? {})) {
    const value = (raw as Record<string, unknown>)[name];
    const kind = Object.prototype.hasOwnProperty.call(spec, name) ? spec[name] : undefined;
    if (kind === undefined) {
      const known = Object.keys(spec);
      problems.push(`unknown query parameter "${name}" (${known.length ? `expected ${known.join(', ')}` : 'this route takes none'})`);
      continue;
    }
    if (Array.isArray(value)) {
      problems.push(`query parameter "${name}" is repeated: give it once`);
      continue;
    }
    if (typeof value !== 'string') {
      problems.push(`query parameter "${name}" must be text`);
      continue;
    }
    const parsed = parseOne(name, value, kind);
    if (typeof parsed === 'object' && parsed !== null && 'problem' in parsed) problems.push(parsed.problem);
    else out[name] = parsed;
  }
  if (problems.length > 0) throw badRequest(problems.join('; '));
  return out as QueryOf<S>;
}

function parseOne(name: string, v: string, kind: QueryParam): string | number | { problem: string } {
  if (kind === 'string') return v;
  if (kind === 'month') return MONTH_RE.test(v) ? v : { problem: `query parameter "${name}" must be a month YYYY-MM, got ${JSON.stringify(v)}` };
  if (kind === 'instant') {
    // An unencoded '+' in a query string arrives as a space: `since=2026-01-01T00:00:00+08:00`.
    const iso = v.replace(/ (\d{2}:?\d{2})$/, '+$1');
    const t = Date.parse(iso);
    return ISO_INSTANT.test(iso) && Number.isFinite(t) ? t : { problem: `query parameter "${name}" must be an ISO 8601 time with its offset, got ${JSON.stringify(v)}` };
  }
  if (Array.isArray(kind)) return kind.includes(v) ? v : { problem: `query parameter "${name}" must be one of ${kind.join(', ')}, got ${JSON.stringify(v)}` };
  const [min, max] = (kind as { int: readonly [number, number] }).int;
  return /^\d+$/.test(v) && Number(v) >= min && Number(v) <= max ? Number(v) : { problem: `query parameter "${name}" must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}` };
}

/** `format=csv` asked for; anything but json/csv is refused (also when a route validates its own query). */
export function wantsCsv(format: string | undefined): boolean {
  if (format === undefined || format === 'json') return false;
  if (format === 'csv') return true;
  throw badRequest(`format must be json or csv, got ${JSON.stringify(format)}`);
}

// ---------------------------------------------------------------- CSV

// Leading characters a spreadsheet reads as the start of a formula (OWASP "CSV injection"), tab
// and carriage return included because Excel strips them before looking.
const FORMULA_START = /^[=+\-@\t\r]/;
// A plain decimal such as "-12.40": money columns carry these as strings (NUMERIC from Postgres).
const PLAIN_NUMBER = /^-?\d+(\.\d+)?$/;

/**
 * CSV for admin tables (RFC 4180, CRLF, header row from `columns`). Every text cell that could
 * start a formula gets a leading apostrophe, so a bill line named `=HYPERLINK(…)` stays text in
 * Excel or LibreOffice. csv-stringify's own escape_formulas would also prefix the "-12.40" of a
 * money column; instead `numeric` names the columns whose plain decimals are left as numbers
 * (anything else in them is neutralised too). JS numbers are never text, so never prefixed.
 */
export function toCsv(columns: readonly string[], rows: readonly Record<string, unknown>[], numeric: readonly string[] = []): string {
  const numericColumns = new Set(numeric);
  return stringify(rows as Record<string, unknown>[], {
    header: true,
    columns: columns.map((c) => ({ key: c, header: c })),
    record_delimiter: 'windows',
    cast: {
      boolean: (v) => String(v),
      date: (v) => v.toISOString(),
      object: (v) => neutralise(JSON.stringify(v)),
      string: (v, ctx) => (numericColumns.has(String(ctx.column)) && PLAIN_NUMBER.test(v) ? v : neutralise(v)),
    },
  });
}

function neutralise(s: string): string {
  return FORMULA_START.test(s) ? `'${s}` : s;
}

/** Sets the CSV content type and returns the body. */
export function sendCsv(reply: FastifyReply, columns: readonly string[], rows: readonly Record<string, unknown>[], numeric: readonly string[] = []): string {
  reply.header('content-type', 'text/csv; charset=utf-8');
  return toCsv(columns, rows, numeric);
}
