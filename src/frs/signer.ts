// SDK-HMAC-SHA256, the AK/SK request signature of Huawei Cloud's API gateway
// (reference/frs-api.md §5.2, billing-api.md §4.1), on node:crypto only. The proxy re-signs
// upstream calls and verifies app signatures with it, the billing client signs BSS calls, and
// the emulator verifies what it receives — one implementation, so they cannot drift apart.

import { createHash, createHmac, Hash, hash, timingSafeEqual } from 'node:crypto';

export const SIGNING_ALGORITHM = 'SDK-HMAC-SHA256';
export const EMPTY_BODY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
/** The gateway refuses an X-Sdk-Date further than this from its clock (APIGW.0303). */
export const DEFAULT_MAX_SKEW_SECONDS = 900;

/**
 * How the path enters the canonical request. 'single': each segment decoded, then encoded once —
 * what the Python and Go SDKs and Huawei's gateway documentation do. 'double': each segment
 * encoded as it was sent, so an already percent-encoded segment is encoded again — what the
 * official Node SDK does. The two differ only for segments that carry a '%'.
 */
export type PathEncoding = 'single' | 'double';
export const PATH_ENCODINGS: readonly PathEncoding[] = ['single', 'double'];

export interface SignableRequest {
  method: string;
  /** URL path without the query, as sent (percent-encoded or not: segments are decoded, then re-encoded). */
  path: string;
  /** Raw query string, without '?'. */
  query?: string;
  /** Header names in any case. */
  headers: Record<string, string>;
  /** The body bytes; ignored when `bodySha256Hex` is given or `X-Sdk-Content-Sha256` is sent. */
  body?: Buffer | string;
  /** Precomputed hex SHA-256 of the body, so a large body is hashed only once. */
  bodySha256Hex?: string;
  /** Canonical path form; default 'single'. */
  pathEncoding?: PathEncoding;
}

export interface ParsedAuthorization {
  access: string;
  signedHeaders: string[];
  signature: string;
}

export type VerifyResult =
  | { ok: true; accessKey: string }
  | { ok: false; code: 'APIG.0301' | 'APIGW.0303'; reason: string };

/** `YYYYMMDDTHHMMSSZ` in UTC, the X-Sdk-Date format. */
export function sdkDate(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

let cachedDateSecond = NaN;
let cachedDate = '';

/**
 * sdkDate for a time in milliseconds, formatted once per second: the proxy signs every call
 * and the string only changes when the second does (toISOString + two regexes per call otherwise).
 */
export function sdkDateAt(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== cachedDateSecond) {
    cachedDate = sdkDate(new Date(second * 1000));
    cachedDateSecond = second;
  }
  return cachedDate;
}

/** Parses an X-Sdk-Date value; undefined when it is not exactly `YYYYMMDDTHHMMSSZ`. */
export function parseSdkDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number);
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  // Date.UTC rolls over out-of-range fields (month 13, second 61); a round trip catches that.
  return sdkDate(date) === value ? date : undefined;
}

/** One-shot SHA-256 (crypto.hash: no Hash object, several times cheaper than createHash for short inputs). */
export function sha256Hex(data: Buffer | string): string {
  return hash('sha256', data, 'hex');
}

const UNRESERVED_ONLY = /^[A-Za-z0-9\-_.~]*$/;

// Unreserved characters of RFC 3986 stay as they are; every other UTF-8 byte becomes %XY.
// encodeURIComponent leaves !'()* alone, which the gateway and the Go signer escape.
function escape(s: string): string {
  if (UNRESERVED_ONLY.test(s)) return s;
  let encoded: string;
  try {
    encoded = encodeURIComponent(s);
  } catch {
    // A lone surrogate: encode what UTF-8 would carry (U+FFFD) instead of throwing mid-request.
    encoded = encodeURIComponent(Buffer.from(s, 'utf8').toString('utf8'));
  }
  return encoded.replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

function decodeSegment(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    // Not valid percent-encoding: sign the characters as they are, '%' included.
    return s;
  }
}

function decodeQueryPart(s: string): string {
  // Clients (axios, Go url.Values) send a space in a query as '+'; the signature uses %20.
  return decodeSegment(s.includes('+') ? s.replace(/\+/g, ' ') : s);
}

export function canonicalUri(path: string, encoding: PathEncoding = 'single'): string {
  const uri = path
    .split('/')
    .map((seg) => escape(encoding === 'single' ? decodeSegment(seg) : seg))
    .join('/');
  return uri.endsWith('/') ? uri : uri + '/';
}

export function canonicalQuery(query: string | undefined): string {
  if (!query) return '';
  const pairs: [string, string][] = [];
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = decodeQueryPart(eq < 0 ? part : part.slice(0, eq));
    const value = eq < 0 ? '' : decodeQueryPart(part.slice(eq + 1));
    pairs.push([key, value]);
  }
  // Sort on the decoded text, as the SDKs do (they sort their parameter map, then escape).
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${escape(k)}=${escape(v)}`).join('&');
}

/** Header lookup by lower-case name in a record whose names may be in any case. */
function headerValue(headers: Record<string, string>, lowerName: string): string | undefined {
  const direct = headers[lowerName];
  if (direct !== undefined) return direct;
  for (const name of Object.keys(headers)) {
    if (name.toLowerCase() === lowerName) return headers[name];
  }
  return undefined;
}

function payloadHash(req: SignableRequest): string {
  const declared = headerValue(req.headers, 'x-sdk-content-sha256');
  if (declared !== undefined) return declared;
  if (req.bodySha256Hex !== undefined) return req.bodySha256Hex;
  if (req.body === undefined || req.body.length === 0) return EMPTY_BODY_SHA256;
  return sha256Hex(req.body);
}

/**
 * The canonical request: method, canonical URI, canonical query, the signed headers (in the
 * order given, one `name:value` line each), their names joined by ';', and the body hash.
 */
export function canonicalRequest(req: SignableRequest, signedHeaders: string[]): string {
  let headerBlock = '';
  for (const name of signedHeaders) {
    headerBlock += `${name}:${(headerValue(req.headers, name) ?? '').trim()}\n`;
  }
  return [
    req.method.toUpperCase(),
    canonicalUri(req.path, req.pathEncoding),
    canonicalQuery(req.query),
    headerBlock,
    signedHeaders.join(';'),
    payloadHash(req),
  ].join('\n');
}

function signature(canonical: string, date: string, sk: string): string {
  return createHmac('sha256', sk).update(stringToSign(canonical, date)).digest('hex');
}

/**
 * HMAC-SHA256 with the key's inner and outer pad states hashed once (RFC 2104): each signature
 * then costs two short hash copies instead of re-deriving the pads from the key on every call.
 * Gives the same bytes as createHmac('sha256', key).
 */
export class HmacSha256Key {
  private readonly inner: Hash;
  private readonly outer: Hash;

  constructor(key: string | Buffer) {
    let k = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
    if (k.length > 64) k = createHash('sha256').update(k).digest();
    const ipad = Buffer.alloc(64, 0x36);
    const opad = Buffer.alloc(64, 0x5c);
    for (let i = 0; i < k.length; i++) {
      ipad[i] ^= k[i];
      opad[i] ^= k[i];
    }
    this.inner = createHash('sha256').update(ipad);
    this.outer = createHash('sha256').update(opad);
  }

  hex(message: string): string {
    const inner = this.inner.copy().update(message, 'utf8').digest();
    return this.outer.copy().update(inner).digest('hex');
  }
}

/** The string an SDK-HMAC-SHA256 signature is the HMAC of. */
export function stringToSign(canonical: string, date: string): string {
  return `${SIGNING_ALGORITHM}\n${date}\n${sha256Hex(canonical)}`;
}

/**
 * Signs a request. Every header in `req.headers` is signed (it must contain `host`), plus
 * `x-sdk-date`; `authorization` and a stale `x-sdk-date` there are ignored. Returns the headers
 * to add or override; the caller must send the signed headers with exactly these values.
 */
export function signRequest(
  req: SignableRequest,
  cred: { ak: string; sk: string },
  now: Date = new Date(),
): Record<string, string> {
  const date = sdkDate(now);
  const headers: Record<string, string> = {};
  for (const name of Object.keys(req.headers)) {
    const lower = name.toLowerCase();
    if (lower === 'authorization' || lower === 'x-sdk-date') continue;
    headers[lower] = req.headers[name];
  }
  if (headers.host === undefined) {
    throw new TypeError('signRequest: req.headers must contain host (the gateway checks the signed host)');
  }
  headers['x-sdk-date'] = date;
  const signedHeaders = Object.keys(headers).sort();
  const sig = signature(canonicalRequest({ ...req, headers }, signedHeaders), date, cred.sk);
  return {
    'X-Sdk-Date': date,
    Authorization: `${SIGNING_ALGORITHM} Access=${cred.ak}, SignedHeaders=${signedHeaders.join(';')}, Signature=${sig}`,
  };
}

/** Parses `SDK-HMAC-SHA256 Access=…, SignedHeaders=a;b, Signature=…`; undefined when malformed. */
export function parseAuthorization(value: string | undefined): ParsedAuthorization | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (!trimmed.startsWith(SIGNING_ALGORITHM + ' ')) return undefined;
  const fields = new Map<string, string>();
  for (const part of trimmed.slice(SIGNING_ALGORITHM.length + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) return undefined;
    fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const access = fields.get('Access');
  const signed = fields.get('SignedHeaders');
  const sig = fields.get('Signature');
  if (!access || !signed || !sig) return undefined;
  const signedHeaders = signed.split(';').map((h) => h.trim().toLowerCase());
  if (signedHeaders.some((h) => h === '')) return undefined;
  return { access, signedHeaders, signature: sig.toLowerCase() };
}

/**
 * Verifies an SDK-HMAC-SHA256 request as the gateway does: a malformed header, unknown access
 * key, missing signed header or wrong signature is APIG.0301; a correctly signed request whose
 * X-Sdk-Date is more than `maxSkewSeconds` from `now` is APIGW.0303 (only then, so the code
 * tells a legitimate client that its clock, not its key, is wrong).
 */
export function verifySignature(
  req: SignableRequest,
  lookupSecret: (ak: string) => string | undefined,
  now: Date,
  maxSkewSeconds: number = DEFAULT_MAX_SKEW_SECONDS,
  /** Canonical path forms accepted; the second is tried only when the path carries a '%'. */
  pathEncodings: readonly PathEncoding[] = ['single'],
): VerifyResult {
  const auth = parseAuthorization(headerValue(req.headers, 'authorization'));
  if (!auth) return { ok: false, code: 'APIG.0301', reason: 'missing or malformed SDK-HMAC-SHA256 Authorization header' };
  const dateValue = headerValue(req.headers, 'x-sdk-date');
  const date = dateValue === undefined ? undefined : parseSdkDate(dateValue.trim());
  if (!dateValue || !date) return { ok: false, code: 'APIG.0301', reason: 'missing or malformed X-Sdk-Date header' };
  for (const name of auth.signedHeaders) {
    if (headerValue(req.headers, name) === undefined) {
      return { ok: false, code: 'APIG.0301', reason: `signed header ${name} is missing` };
    }
  }
  const sk = lookupSecret(auth.access);
  if (sk === undefined) return { ok: false, code: 'APIG.0301', reason: 'unknown access key' };
  const given = Buffer.from(auth.signature, 'utf8');
  let matched = false;
  for (const pathEncoding of pathEncodings) {
    if (pathEncoding !== pathEncodings[0] && !req.path.includes('%')) continue;
    const expected = Buffer.from(signature(canonicalRequest({ ...req, pathEncoding }, auth.signedHeaders), dateValue.trim(), sk), 'utf8');
    if (given.length === expected.length && timingSafeEqual(given, expected)) {
      matched = true;
      break;
    }
  }
  if (!matched) return { ok: false, code: 'APIG.0301', reason: 'signature mismatch' };
  if (Math.abs(now.getTime() - date.getTime()) > maxSkewSeconds * 1000) {
    return { ok: false, code: 'APIGW.0303', reason: `X-Sdk-Date ${dateValue} is more than ${maxSkewSeconds} s from server time` };
  }
  return { ok: true, accessKey: auth.access };
}
