// Which bill rows belong to which of our operations. Huawei's FRS codes (service, resource and
// usage types, SKUs) are not in any public source (billing-api.md §2.6, UNCERTAIN), so the mapping
// is configuration (FRS_METER_BSS_OPERATION_MAP) with a documented default that the bundled
// emulator bills with. To find the real codes: GET /v2/products/service-resources and
// /v2/products/usage-types for the FRS service type code, or read one month's records in
// GET /admin/billing/{month} (rows without an operation are listed as `unmapped`).

import { OPERATION_NAMES, OperationName } from '../frs/operations';

/** Record fields a key may name, in the order they are tried (the most specific first). */
export const MAPPED_FIELDS = ['sku_code', 'usage_type', 'resource_type', 'product_spec_desc'] as const;
export type MappedField = (typeof MAPPED_FIELDS)[number];

/** `field:code` (or a bare `code`, matched against every field) → operation. */
export type OperationMap = Readonly<Record<string, OperationName>>;

/** The service type code the emulator's dictionary answers for 人脸识别 / Face Recognition. */
export const EMULATOR_SERVICE_TYPE_CODE = 'hws.service.type.frs';

/** One resource type per billed sub-service, as the bundled emulator bills. Not Huawei's codes. */
export const DEFAULT_OPERATION_MAP: OperationMap = Object.freeze({
  'resource_type:hws.resource.type.frs.face_detect': 'face_detect',
  'resource_type:hws.resource.type.frs.face_compare': 'face_compare',
  'resource_type:hws.resource.type.frs.face_search': 'face_search',
  'resource_type:hws.resource.type.frs.live_detect': 'live_detect',
  'resource_type:hws.resource.type.frs.live_detect_face': 'live_detect_face',
  'resource_type:hws.resource.type.frs.face_add': 'face_add',
  'resource_type:hws.resource.type.frs.face_delete': 'face_delete',
  'resource_type:hws.resource.type.frs.face_batch_delete': 'face_batch_delete',
});

/** Reads FRS_METER_BSS_OPERATION_MAP; returns the problems instead of throwing. */
export function parseOperationMap(text: string): { map?: OperationMap; problems: string[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { problems: [`is not JSON (${(err as Error).message}): expected {"resource_type:<code>": "<operation>", …}`] };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { problems: ['must be a JSON object {"<field>:<code>": "<operation>"}'] };
  }
  const problems: string[] = [];
  const map: Record<string, OperationName> = {};
  for (const [key, op] of Object.entries(parsed as Record<string, unknown>)) {
    const colon = key.indexOf(':');
    const field = colon < 0 ? undefined : key.slice(0, colon);
    if (field !== undefined && !(MAPPED_FIELDS as readonly string[]).includes(field)) {
      problems.push(`key ${JSON.stringify(key)}: field must be one of ${MAPPED_FIELDS.join(', ')} (or no field to match any)`);
    } else if (typeof op !== 'string' || !(OPERATION_NAMES as readonly string[]).includes(op) || op === 'unknown') {
      problems.push(`key ${JSON.stringify(key)}: ${JSON.stringify(op)} is not an operation`);
    } else map[key] = op as OperationName;
  }
  return problems.length > 0 ? { problems } : { map: Object.freeze(map), problems };
}

export type MappableRecord = Partial<Record<MappedField, unknown>>;

/** The operation a bill record is for, or undefined when no key matches. */
export function operationOf(record: MappableRecord, map: OperationMap): OperationName | undefined {
  for (const field of MAPPED_FIELDS) {
    const v = record[field];
    if (typeof v !== 'string' || v === '') continue;
    const hit = map[`${field}:${v}`] ?? map[v];
    if (hit) return hit;
  }
  return undefined;
}

/** The first `resource_type` code mapped to each operation: what the emulator bills under. */
export function resourceTypeCodes(map: OperationMap): Partial<Record<OperationName, string>> {
  const out: Partial<Record<OperationName, string>> = {};
  for (const [key, op] of Object.entries(map)) {
    if (key.startsWith('resource_type:') && out[op] === undefined) out[op] = key.slice('resource_type:'.length);
  }
  return out;
}
