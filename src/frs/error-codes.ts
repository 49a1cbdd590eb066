// The error-code catalogue: FRS, API-gateway and frs-meter's own codes with their HTTP status,
// whether a retry can help, and what they mean (reference/frs-api.md §2). Metric labels fold any
// code not listed here to `other`, so label cardinality stays bounded.

export interface ErrorCodeSpec {
  readonly code: string;
  readonly status: number;
  /** A later attempt of the same request can succeed (given the operation is idempotent). */
  readonly retryable: boolean;
  /** Upstream rejected the credentials: refresh the token and try once more. */
  readonly authExpired?: boolean;
  readonly meaning: string;
}

function e(code: string, status: number, retryable: boolean, meaning: string, authExpired = false): ErrorCodeSpec {
  return Object.freeze({ code, status, retryable, meaning, ...(authExpired ? { authExpired } : {}) });
}

export const ERROR_CODES: readonly ErrorCodeSpec[] = Object.freeze([
  e('FRS.0002', 403, false, 'Token authentication failed: token wrong or expired', true),
  e('FRS.0010', 400, false, 'Request header missing or empty'),
  e('FRS.0011', 400, false, 'Required parameter missing or empty'),
  e('FRS.0012', 400, false, 'Parameter has the wrong format'),
  e('FRS.0013', 400, false, 'Face or image too large or too small'),
  e('FRS.0014', 400, false, 'Request body is not valid JSON'),
  e('FRS.0015', 400, false, 'Base64 decode error or not an image'),
  e('FRS.0016', 400, false, 'Unsupported file format'),
  e('FRS.0017', 400, false, 'Request body size out of range'),
  e('FRS.0018', 500, true, 'Internal service error'),
  e('FRS.0019', 400, false, 'Service not subscribed'),
  e('FRS.0020', 400, false, 'Sub-service not subscribed in this region/account'),
  e('FRS.0021', 400, false, 'Invalid OBS URL'),
  e('FRS.0022', 400, false, 'Reading the image from OBS failed'),
  e('FRS.0028', 403, false, 'Project ID in the URL does not match the token'),
  e('FRS.0032', 400, false, 'Sort field or type unsupported'),
  e('FRS.0033', 429, true, 'Too many requests: QPS flow control exceeded'),
  e('FRS.0035', 400, false, 'Invalid download address'),
  e('FRS.0120', 429, true, 'System busy: check the call frequency'),
  e('FRS.0202', 400, false, 'Service frozen'),
  e('FRS.0203', 400, false, 'Failed to update user info'),
  e('FRS.0301', 400, false, 'Face set already exists'),
  e('FRS.0302', 400, false, 'Face set does not exist'),
  e('FRS.0303', 400, false, 'Face ID problem'),
  e('FRS.0304', 400, false, 'No face detected: cannot search'),
  e('FRS.0401', 400, false, 'No value of that type: cannot delete'),
  e('FRS.0402', 400, false, 'Field does not exist'),
  e('FRS.0403', 400, false, 'Face ID does not exist'),
  e('FRS.0404', 400, false, 'No face detected: cannot add'),
  e('FRS.0407', 400, false, 'None of the data is suitable'),
  e('FRS.0501', 400, false, 'No face detected'),
  e('FRS.0701', 400, false, 'Video parse failed'),
  e('FRS.0702', 400, false, 'Unsupported action'),
  e('FRS.0704', 400, false, 'More than 10 actions'),
  e('FRS.0705', 400, false, 'Unsupported match mode'),
  e('FRS.0706', 400, false, 'Video duration outside 1-15 s'),
  e('FRS.0707', 400, false, 'No face in the photo'),
  e('FRS.0709', 400, false, 'Multiple faces: silent liveness needs one face'),
  e('FRS.0751', 400, false, 'Video data parse failed'),
  e('APIG.0101', 404, false, 'API does not exist or is not published (wrong endpoint, project or method)'),
  e('APIG.0201', 504, true, 'Request body too large (413) or backend timeout (504)'),
  e('APIG.0301', 401, false, 'IAM authentication information incorrect', true),
  e('APIG.0308', 429, true, 'Gateway flow control exceeded'),
  e('APIGW.0101', 404, false, 'API does not exist (wrong IAM URL)'),
  e('APIGW.0201', 504, true, 'Backend timeout'),
  e('APIGW.0301', 401, false, 'IAM authentication information incorrect', true),
  e('APIGW.0303', 401, false, 'AK/SK signature expired: X-Sdk-Date more than 15 min off'),
  e('APIGW.0308', 429, true, 'Gateway flow control exceeded'),
  e('APIGW.0310', 403, false, 'Project unavailable'),
  // frs-meter's own answers (SPEC §5).
  e('METER.0400', 400, false, 'Bad request to frs-meter'),
  e('METER.0401', 401, false, 'Missing or invalid application credentials'),
  e('METER.0403', 403, false, 'Forbidden'),
  e('METER.0404', 404, false, 'Not found'),
  e('METER.0409', 409, false, 'Conflict with existing state (e.g. an app name in use)'),
  e('METER.0402', 402, false, 'Monthly budget of the app reached (block budget): not retried, resets with the month'),
  e('METER.0413', 413, false, 'Request body over the FRS limit'),
  e('METER.0429', 429, false, 'QPS quota reached (shaping) or retry budget exhausted'),
  e('METER.0502', 502, false, 'Upstream connection failed or answered invalidly'),
  e('METER.0503', 503, false, 'Upstream unavailable or not configured'),
  e('METER.0504', 504, false, 'Upstream timed out'),
]);

const BY_CODE = new Map(ERROR_CODES.map((s) => [s.code, s]));

export function errorCode(code: string): ErrorCodeSpec | undefined {
  return BY_CODE.get(code);
}

/** Label value for a code: the code itself when catalogued, `none` for none, `other` otherwise. */
export function errorCodeLabel(code: string | undefined): string {
  if (!code) return 'none';
  return BY_CODE.has(code) ? code : 'other';
}

/** Every label value `error_code` can take. */
export const ERROR_CODE_LABELS: readonly string[] = Object.freeze(['none', 'other', ...ERROR_CODES.map((c) => c.code)]);

/** Builds an FRS-shaped error body with frs-meter's prefix. */
export function meterErrorBody(code: string, message: string): string {
  return JSON.stringify({ error_code: code, error_msg: message });
}

/**
 * Pulls `error_code` out of a small upstream error body without throwing; FRS uses
 * `error_code`, some gateways `code`.
 */
export function parseErrorCode(body: Buffer | string): string | undefined {
  if (body.length === 0 || body.length > 64 * 1024) return undefined;
  try {
    const parsed = JSON.parse(typeof body === 'string' ? body : body.toString('utf8')) as Record<string, unknown>;
    const code = parsed.error_code ?? parsed.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}
