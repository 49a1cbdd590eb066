// The operation catalogue: the one place that knows which FRS calls exist, how they are
// routed, billed and retried. Routing, metric labels, billing rules and the emulator all
// derive from it (SPEC §1, §2).

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export const OPERATION_NAMES = [
  'face_detect',
  'face_compare',
  'face_search',
  'live_detect',
  'live_detect_face',
  'face_add',
  'face_delete',
  'face_batch_delete',
  'face_update',
  'face_list',
  'face_set_create',
  'face_set_list',
  'face_set_show',
  'face_set_delete',
  'subscribe_status',
  'unknown',
] as const;

export type OperationName = (typeof OPERATION_NAMES)[number];

/** Billing sub-service: how Huawei groups calls on the bill and in the free tier. */
export type SubService =
  | 'detect'
  | 'compare'
  | 'search'
  | 'live_detect'
  | 'live_detect_face'
  | 'face_management'
  | 'face_set_management'
  | 'subscription'
  | 'none';

export interface OperationSpec {
  readonly name: OperationName;
  readonly method: HttpMethod | '*';
  /** API versions the path is served under. */
  readonly versions: readonly ('v1' | 'v2')[];
  /** Path segments after `/{version}/{project_id}`; `{face_set_name}` is a parameter. */
  readonly segments: readonly string[];
  readonly subService: SubService;
  /** A 2xx answer to this operation is a valid (billed) call. `face_batch_delete` is configurable. */
  readonly billable: boolean;
  /** Eligible for the monthly free calls (policy may exclude more; see usage/free-tier). */
  readonly freeTierEligible: boolean;
  /** Safe to repeat: a second attempt cannot create a second effect. */
  readonly idempotent: boolean;
  /** FRS's default per-API concurrency when no QPS package is bought (reference §3.1). */
  readonly defaultQps: number;
  /** The request carries an image or video: the body is forwarded as bytes and never parsed. */
  readonly carriesMedia: boolean;
  /** Upstream timeout used until enough latency samples exist (seconds). */
  readonly defaultTimeoutSeconds: number;
}

const FACE_SET = '{face_set_name}';

function op(spec: OperationSpec): OperationSpec {
  return Object.freeze(spec);
}

export const OPERATIONS: readonly OperationSpec[] = Object.freeze([
  op({ name: 'face_detect', method: 'POST', versions: ['v2'], segments: ['face-detect'], subService: 'detect', billable: true, freeTierEligible: true, idempotent: true, defaultQps: 10, carriesMedia: true, defaultTimeoutSeconds: 5 }),
  op({ name: 'face_compare', method: 'POST', versions: ['v2'], segments: ['face-compare'], subService: 'compare', billable: true, freeTierEligible: true, idempotent: true, defaultQps: 10, carriesMedia: true, defaultTimeoutSeconds: 5 }),
  op({ name: 'face_search', method: 'POST', versions: ['v2'], segments: ['face-sets', FACE_SET, 'search'], subService: 'search', billable: true, freeTierEligible: true, idempotent: true, defaultQps: 10, carriesMedia: true, defaultTimeoutSeconds: 5 }),
  op({ name: 'live_detect', method: 'POST', versions: ['v1', 'v2'], segments: ['live-detect'], subService: 'live_detect', billable: true, freeTierEligible: false, idempotent: true, defaultQps: 1, carriesMedia: true, defaultTimeoutSeconds: 15 }),
  op({ name: 'live_detect_face', method: 'POST', versions: ['v1'], segments: ['live-detect-face'], subService: 'live_detect_face', billable: true, freeTierEligible: true, idempotent: true, defaultQps: 10, carriesMedia: true, defaultTimeoutSeconds: 5 }),
  op({ name: 'face_add', method: 'POST', versions: ['v2'], segments: ['face-sets', FACE_SET, 'faces'], subService: 'face_management', billable: true, freeTierEligible: true, idempotent: false, defaultQps: 10, carriesMedia: true, defaultTimeoutSeconds: 5 }),
  op({ name: 'face_batch_delete', method: 'DELETE', versions: ['v2'], segments: ['face-sets', FACE_SET, 'faces', 'batch'], subService: 'face_management', billable: true, freeTierEligible: true, idempotent: true, defaultQps: 10, carriesMedia: false, defaultTimeoutSeconds: 5 }),
  op({ name: 'face_delete', method: 'DELETE', versions: ['v2'], segments: ['face-sets', FACE_SET, 'faces'], subService: 'face_management', billable: true, freeTierEligible: true, idempotent: true, defaultQps: 10, carriesMedia: false, defaultTimeoutSeconds: 5 }),
  op({ name: 'face_update', method: 'PUT', versions: ['v2'], segments: ['face-sets', FACE_SET, 'faces'], subService: 'face_management', billable: false, freeTierEligible: false, idempotent: true, defaultQps: 10, carriesMedia: false, defaultTimeoutSeconds: 5 }),
  op({ name: 'face_list', method: 'GET', versions: ['v2'], segments: ['face-sets', FACE_SET, 'faces'], subService: 'face_management', billable: false, freeTierEligible: false, idempotent: true, defaultQps: 10, carriesMedia: false, defaultTimeoutSeconds: 5 }),
  op({ name: 'face_set_create', method: 'POST', versions: ['v2'], segments: ['face-sets'], subService: 'face_set_management', billable: false, freeTierEligible: false, idempotent: false, defaultQps: 10, carriesMedia: false, defaultTimeoutSeconds: 5 }),
  op({ name: 'face_set_list', method: 'GET', versions: ['v2'], segments: ['face-sets'], subService: 'face_set_management', billable: false, freeTierEligible: false, idempotent: true, defaultQps: 10, carriesMedia: false, defaultTimeoutSeconds: 5 }),
  op({ name: 'face_set_show', method: 'GET', versions: ['v2'], segments: ['face-sets', FACE_SET], subService: 'face_set_management', billable: false, freeTierEligible: false, idempotent: true, defaultQps: 10, carriesMedia: false, defaultTimeoutSeconds: 5 }),
  op({ name: 'face_set_delete', method: 'DELETE', versions: ['v2'], segments: ['face-sets', FACE_SET], subService: 'face_set_management', billable: false, freeTierEligible: false, idempotent: true, defaultQps: 10, carriesMedia: false, defaultTimeoutSeconds: 5 }),
  op({ name: 'subscribe_status', method: 'GET', versions: ['v1'], segments: ['subscribe'], subService: 'subscription', billable: false, freeTierEligible: false, idempotent: true, defaultQps: 10, carriesMedia: false, defaultTimeoutSeconds: 5 }),
  op({ name: 'unknown', method: '*', versions: ['v1', 'v2'], segments: [], subService: 'none', billable: false, freeTierEligible: false, idempotent: false, defaultQps: 10, carriesMedia: false, defaultTimeoutSeconds: 10 }),
]);

export const OPERATION_BY_NAME: Readonly<Record<OperationName, OperationSpec>> = Object.freeze(
  Object.fromEntries(OPERATIONS.map((o) => [o.name, o])) as Record<OperationName, OperationSpec>,
);

/** Catalogue operations that are not the `unknown` fallback. */
export const KNOWN_OPERATIONS: readonly OperationSpec[] = OPERATIONS.filter((o) => o.name !== 'unknown');

export const BILLABLE_OPERATION_NAMES: readonly OperationName[] = KNOWN_OPERATIONS.filter((o) => o.billable).map(
  (o) => o.name,
);

export interface Classified {
  readonly operation: OperationSpec;
  /** `{project_id}` from the path, or undefined for paths outside /v1|/v2/{project_id}. */
  readonly projectId?: string;
  readonly faceSetName?: string;
}

export const UNKNOWN: OperationSpec = OPERATION_BY_NAME.unknown;

/**
 * Maps a request to its catalogue operation. `path` is the URL path without the query.
 * Returns undefined for paths that are not FRS API paths at all (not under /v1 or /v2).
 */
export function classify(method: string, path: string): Classified | undefined {
  const parts = path.split('/');
  // parts[0] is '' (leading slash); parts[1] version; parts[2] project id.
  const version = parts[1];
  if (parts[0] !== '' || (version !== 'v1' && version !== 'v2')) return undefined;
  const projectId = parts[2] ? safeDecode(parts[2]) : undefined;
  if (!projectId) return { operation: UNKNOWN };
  // Tolerate one trailing slash, as the gateway does.
  const rest = parts.slice(3);
  if (rest.length > 0 && rest[rest.length - 1] === '') rest.pop();
  for (const spec of KNOWN_OPERATIONS) {
    if (spec.method !== method) continue;
    if (!spec.versions.includes(version)) continue;
    if (spec.segments.length !== rest.length) continue;
    let faceSetName: string | undefined;
    let match = true;
    for (let i = 0; i < rest.length; i++) {
      const want = spec.segments[i];
      if (want === FACE_SET) {
        if (rest[i] === '') {
          match = false;
          break;
        }
        faceSetName = safeDecode(rest[i]);
      } else if (want !== rest[i]) {
        match = false;
        break;
      }
    }
    if (match) return { operation: spec, projectId, faceSetName };
  }
  return { operation: UNKNOWN, projectId };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Canonical request path of an operation, for clients, tests and the emulator. */
export function pathFor(
  name: Exclude<OperationName, 'unknown'>,
  projectId: string,
  faceSetName = 'default',
  version?: 'v1' | 'v2',
): string {
  const spec = OPERATION_BY_NAME[name];
  const v = version ?? spec.versions[spec.versions.length === 1 ? 0 : 0];
  const rest = spec.segments.map((s) => (s === FACE_SET ? encodeURIComponent(faceSetName) : s));
  return ['', v, encodeURIComponent(projectId), ...rest].join('/');
}
