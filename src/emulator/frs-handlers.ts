// FRS operation semantics: parameter checks with FRS's error codes, and answers in the shapes of
// reference/frs-api.md §1.4. Results are derived from the body hash, so the same request gets
// the same faces and scores every time (useful for tests; nothing is recognised for real).

import { createHash } from 'node:crypto';
import { errorCode } from '../frs/error-codes';
import { OPERATIONS, OperationName } from '../frs/operations';
import { BoundingBox, FaceSet, FaceStore, FilterSyntaxError, StoredFace, compileFilter, faceSetInfo, faceView } from './face-store';
import { Random, letterId } from './random';
import { isRecord } from './validation';

export interface FrsCall {
  operation: OperationName;
  projectId: string;
  faceSetName?: string;
  query: URLSearchParams;
  body: Buffer;
  bodySha256: string;
  contentType?: string;
  now: Date;
}

export interface FrsAnswer {
  status: number;
  body: unknown;
  errorCode?: string;
}

type Fields = Record<string, unknown>;

/** An FRS error answer; the status comes from the error catalogue. */
export function frsError(code: string, message: string): FrsAnswer {
  return { status: errorCode(code)?.status ?? 500, body: { error_code: code, error_msg: message }, errorCode: code };
}

const missing = (names: string) => frsError('FRS.0011', `Lack the request parameter, or the request parameter ${names} is empty.`);
const badFormat = (what: string) => frsError('FRS.0012', `The request param has wrong format, ${what}`);

/** Operations that may be sent as multipart/form-data with a file part: the catalogue's media ones. */
const MULTIPART_OPERATIONS: ReadonlySet<OperationName> = new Set(OPERATIONS.filter((o) => o.carriesMedia).map((o) => o.name));

/** Operations whose request is a JSON (or multipart) body: the media ones plus three small JSON ones. */
const BODY_OPERATIONS: ReadonlySet<OperationName> = new Set<OperationName>([...MULTIPART_OPERATIONS, 'face_update', 'face_batch_delete', 'face_set_create']);

const FIELD_TYPES = new Set(['string', 'integer', 'float', 'double', 'boolean', 'long']);
const RESERVED_FIELDS = new Set(['vector', 'bounding_box', 'similarity', 'external_image_id', 'face_id', 'create_time', '_id', '_all', '_source']);
const EXTERNAL_ID = /^[A-Za-z0-9_-]{1,36}$/;
const PICTURE = Buffer.from('frs-meter emulator: no real picture').toString('base64');

/** Deterministic numbers in [0, 1) drawn from a hex digest (and rehashed past its length). */
function units(seedHex: string): (i: number) => number {
  return (i) => {
    const block = Math.floor(i / 8);
    const hex = block === 0 ? seedHex : createHash('sha256').update(`${seedHex}:${block}`).digest('hex');
    return parseInt(hex.slice((i % 8) * 8, (i % 8) * 8 + 8), 16) / 2 ** 32;
  };
}

function round(n: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function boundingBox(u: (i: number) => number, at: number): BoundingBox {
  const width = 120 + Math.floor(u(at + 2) * 200);
  return {
    top_left_x: 40 + Math.floor(u(at) * 400),
    top_left_y: 30 + Math.floor(u(at + 1) * 300),
    width,
    height: Math.floor(width * (1.1 + u(at + 3) * 0.3)),
  };
}

/** Marks a multipart file part: its bytes are not kept. */
const MULTIPART_FILE = Symbol('multipart file');

function nonEmpty(v: unknown): boolean {
  return (typeof v === 'string' && v !== '') || v === MULTIPART_FILE;
}

function hasMedia(fields: Fields, prefix: 'image' | 'image1' | 'image2' | 'video'): boolean {
  return nonEmpty(fields[`${prefix}_base64`]) || nonEmpty(fields[`${prefix}_url`]) || nonEmpty(fields[`${prefix}_file`]);
}

const mediaNames = (prefix: string) => `${prefix}_base64|${prefix}_url|${prefix}_file`;

/** Text fields of a multipart body, and file parts marked MULTIPART_FILE; undefined when unparseable. */
function parseMultipart(body: Buffer, contentType: string): Fields | undefined {
  const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  if (!boundary) return undefined;
  const delimiter = `--${boundary[1] ?? boundary[2]}`;
  // latin1 maps bytes 1:1, so offsets stay byte offsets; text fields are decoded as UTF-8 below.
  const text = body.toString('latin1');
  const fields: Fields = {};
  for (const part of text.split(delimiter).slice(1)) {
    if (part.startsWith('--')) break;
    const headerEnd = part.indexOf('\r\n\r\n');
    if (headerEnd < 0) continue;
    const headers = part.slice(0, headerEnd);
    const name = /name="([^"]*)"/i.exec(headers)?.[1];
    if (!name) continue;
    if (/filename="/i.test(headers)) fields[name] = MULTIPART_FILE;
    else fields[name] = Buffer.from(part.slice(headerEnd + 4).replace(/\r\n$/, ''), 'latin1').toString('utf8');
  }
  return fields;
}

export class FrsHandlers {
  constructor(
    private readonly store: FaceStore,
    private readonly rand: Random,
    private readonly startedAt: Date,
  ) {}

  handle(call: FrsCall): FrsAnswer {
    let fields: Fields = {};
    if (BODY_OPERATIONS.has(call.operation)) {
      const parsed = this.parseBody(call);
      if ('status' in parsed) return parsed;
      fields = parsed.fields;
    }
    switch (call.operation) {
      case 'face_detect':
        return this.detect(call, fields);
      case 'face_compare':
        return this.compare(call, fields);
      case 'face_search':
        return this.withSet(call, (set) => this.search(call, fields, set));
      case 'live_detect':
        return this.liveDetect(call, fields);
      case 'live_detect_face':
        return this.liveDetectFace(call, fields);
      case 'face_add':
        return this.withSet(call, (set) => this.addFaces(call, fields, set));
      case 'face_list':
        return this.withSet(call, (set) => this.listFaces(call, set));
      case 'face_update':
        return this.withSet(call, (set) => this.updateFace(fields, set));
      case 'face_delete':
        return this.withSet(call, (set) => this.deleteFace(call, set));
      case 'face_batch_delete':
        return this.withSet(call, (set) => this.batchDelete(fields, set));
      case 'face_set_create':
        return this.createSet(call, fields);
      case 'face_set_list':
        return { status: 200, body: { face_sets_info: this.store.list(call.projectId).map(faceSetInfo) } };
      case 'face_set_show':
        return this.withSet(call, (set) => ({ status: 200, body: { face_set_info: faceSetInfo(set) } }));
      case 'face_set_delete':
        return this.withSet(call, (set) => {
          this.store.delete(call.projectId, set.name);
          return { status: 200, body: { face_set_name: set.name } };
        });
      case 'subscribe_status':
        return this.subscribeStatus();
      case 'unknown':
        return frsError('APIG.0101', 'The API does not exist or has not been published in the environment.');
    }
  }

  private parseBody(call: FrsCall): { fields: Fields } | FrsAnswer {
    const ct = call.contentType?.toLowerCase() ?? '';
    if (ct.startsWith('multipart/form-data') && MULTIPART_OPERATIONS.has(call.operation)) {
      const fields = parseMultipart(call.body, call.contentType as string);
      return fields ? { fields } : frsError('FRS.0012', 'The request param has wrong format, multipart body without a boundary');
    }
    try {
      const parsed: unknown = JSON.parse(call.body.toString('utf8'));
      if (isRecord(parsed)) return { fields: parsed };
    } catch {
      // Answered below: FRS treats any unparseable body the same way.
    }
    return frsError('FRS.0014', 'The JSON format of the input data is incorrect.');
  }

  private withSet(call: FrsCall, fn: (set: FaceSet) => FrsAnswer): FrsAnswer {
    const set = call.faceSetName === undefined ? undefined : this.store.get(call.projectId, call.faceSetName);
    if (!set) return frsError('FRS.0302', `The face set does not exist: ${call.faceSetName ?? ''}`);
    return fn(set);
  }

  private detect(call: FrsCall, f: Fields): FrsAnswer {
    if (!hasMedia(f, 'image')) return missing(mediaNames('image'));
    const u = units(call.bodySha256);
    const face: Record<string, unknown> = { bounding_box: boundingBox(u, 0) };
    if (typeof f.attributes === 'string' && f.attributes.trim() !== '') face.attributes = attributes(f.attributes, u);
    return { status: 200, body: { faces: [face] } };
  }

  private compare(call: FrsCall, f: Fields): FrsAnswer {
    const missingSide = !hasMedia(f, 'image1') ? 'image1' : !hasMedia(f, 'image2') ? 'image2' : undefined;
    if (missingSide) return missing(mediaNames(missingSide));
    const u = units(call.bodySha256);
    const same = ['base64', 'url'].some((k) => nonEmpty(f[`image1_${k}`]) && f[`image1_${k}`] === f[`image2_${k}`]);
    return {
      status: 200,
      body: {
        image1_face: { bounding_box: boundingBox(u, 0) },
        image2_face: { bounding_box: same ? boundingBox(u, 0) : boundingBox(u, 4) },
        similarity: same ? 1 : round(0.05 + u(8) * 0.9),
      },
    };
  }

  private search(call: FrsCall, f: Fields, set: FaceSet): FrsAnswer {
    const byFaceId = typeof f.face_id === 'string' && f.face_id !== '' ? f.face_id : undefined;
    if (!hasMedia(f, 'image') && !byFaceId) return missing(`${mediaNames('image')}|face_id`);
    if (byFaceId && !set.faces.has(byFaceId)) return frsError('FRS.0403', `The face ID does not exist: ${byFaceId}`);
    const topN = f.top_n ?? 10;
    if (typeof topN !== 'number' || !Number.isInteger(topN) || topN < 1 || topN > 1000) return badFormat('top_n must be an integer from 1 to 1000');
    const threshold = f.threshold ?? 0;
    if (typeof threshold !== 'number' || threshold < 0 || threshold > 1) return badFormat('threshold must be a number from 0 to 1');
    let candidates = [...set.faces.values()];
    if (f.filter !== undefined) {
      if (typeof f.filter !== 'string') return badFormat('filter must be a string');
      const compiled = compile(f.filter);
      if ('status' in compiled) return compiled;
      candidates = candidates.filter(compiled.predicate);
    }
    const returnFields = Array.isArray(f.return_fields) ? f.return_fields.filter((x): x is string => typeof x === 'string') : undefined;
    const faces = candidates
      .map((face) => ({
        face,
        similarity: face.faceId === byFaceId ? 1 : round(units(createHash('sha256').update(`${call.bodySha256}:${face.faceId}`).digest('hex'))(0)),
      }))
      .filter((s) => s.similarity >= threshold)
      .sort((a, b) => b.similarity - a.similarity)
      .slice(0, topN)
      .map(({ face, similarity }) => ({ ...faceView(face), external_fields: pickFields(face, returnFields), similarity }));
    return { status: 200, body: { faces } };
  }

  private liveDetect(call: FrsCall, f: Fields): FrsAnswer {
    if (!hasMedia(f, 'video')) return missing(mediaNames('video'));
    if (!nonEmpty(f.actions) || typeof f.actions !== 'string') return missing('actions');
    const actions = f.actions.split(',').map((a) => a.trim());
    if (actions.length > 10) return frsError('FRS.0704', 'The number of actions exceeds 10.');
    if (actions.some((a) => !/^[1-5]$/.test(a))) return frsError('FRS.0702', `Unsupported action in ${f.actions}`);
    const u = units(call.bodySha256);
    return {
      status: 200,
      body: {
        'video-result': {
          alive: u(0) >= 0.1,
          actions: actions.map((a, i) => ({ action: Number(a), confidence: round(0.8 + u(i + 1) * 0.2) })),
          picture: PICTURE,
        },
        'warning-list': [],
      },
    };
  }

  private liveDetectFace(call: FrsCall, f: Fields): FrsAnswer {
    if (!hasMedia(f, 'image')) return missing(mediaNames('image'));
    const u = units(call.bodySha256);
    const confidence = round(u(0));
    return { status: 200, body: { result: { alive: confidence >= 0.1, confidence, picture: PICTURE }, 'warning-list': [] } };
  }

  private addFaces(call: FrsCall, f: Fields, set: FaceSet): FrsAnswer {
    if (!hasMedia(f, 'image')) return missing(mediaNames('image'));
    const externalImageId = f.external_image_id ?? letterId(this.rand);
    if (typeof externalImageId !== 'string' || !EXTERNAL_ID.test(externalImageId)) {
      return badFormat('external_image_id must be 1-36 letters, digits, - or _');
    }
    const fieldsCheck = checkExternalFields(f.external_fields, set);
    if ('status' in fieldsCheck) return fieldsCheck;
    const face = this.store.addFace(set, {
      externalImageId,
      boundingBox: boundingBox(units(call.bodySha256), 0),
      externalFields: fieldsCheck.values,
    });
    return { status: 200, body: { face_set_id: set.id, face_set_name: set.name, faces: [faceView(face)] } };
  }

  private listFaces(call: FrsCall, set: FaceSet): FrsAnswer {
    const faceId = call.query.get('face_id');
    if (faceId !== null && faceId !== '') {
      const face = set.faces.get(faceId);
      if (!face) return frsError('FRS.0403', `The face ID does not exist: ${faceId}`);
      return { status: 200, body: { face_set_id: set.id, face_set_name: set.name, faces: [faceView(face)] } };
    }
    const offset = intParam(call.query.get('offset'), 0);
    const limit = intParam(call.query.get('limit'), 5);
    if (offset === undefined || offset < 0) return badFormat('offset must be a whole number >= 0');
    if (limit === undefined || limit < 1) return badFormat('limit must be a whole number >= 1');
    if (offset + limit > 10_000) return badFormat('offset + limit must not exceed 10000');
    const faces = [...set.faces.values()].slice(offset, offset + limit).map(faceView);
    return { status: 200, body: { face_set_id: set.id, face_set_name: set.name, faces } };
  }

  private updateFace(f: Fields, set: FaceSet): FrsAnswer {
    if (!nonEmpty(f.face_id) || typeof f.face_id !== 'string') return missing('face_id');
    if (f.external_image_id === undefined && f.external_fields === undefined) return missing('external_image_id|external_fields');
    const face = set.faces.get(f.face_id);
    if (!face) return frsError('FRS.0403', `The face ID does not exist: ${f.face_id}`);
    if (f.external_image_id !== undefined) {
      if (typeof f.external_image_id !== 'string' || !EXTERNAL_ID.test(f.external_image_id)) {
        return badFormat('external_image_id must be 1-36 letters, digits, - or _');
      }
    }
    const fieldsCheck = checkExternalFields(f.external_fields, set);
    if ('status' in fieldsCheck) return fieldsCheck;
    if (typeof f.external_image_id === 'string') face.externalImageId = f.external_image_id;
    if (f.external_fields !== undefined) face.externalFields = { ...face.externalFields, ...fieldsCheck.values };
    return { status: 200, body: { face_number: 1, face_set_id: set.id, face_set_name: set.name } };
  }

  private deleteFace(call: FrsCall, set: FaceSet): FrsAnswer {
    const faceId = call.query.get('face_id');
    const externalImageId = call.query.get('external_image_id');
    let deleted = 0;
    if (faceId) {
      if (!set.faces.delete(faceId)) return frsError('FRS.0403', `The face ID does not exist: ${faceId}`);
      deleted = 1;
    } else if (externalImageId) {
      for (const face of [...set.faces.values()]) {
        if (face.externalImageId === externalImageId) {
          set.faces.delete(face.faceId);
          deleted++;
        }
      }
      if (deleted === 0) return frsError('FRS.0401', `No face has external_image_id ${externalImageId}; nothing to delete.`);
    } else {
      return missing('face_id|external_image_id');
    }
    return { status: 200, body: { face_number: deleted, face_set_id: set.id, face_set_name: set.name } };
  }

  private batchDelete(f: Fields, set: FaceSet): FrsAnswer {
    if (!nonEmpty(f.filter) || typeof f.filter !== 'string') return missing('filter');
    const compiled = compile(f.filter);
    if ('status' in compiled) return compiled;
    let deleted = 0;
    for (const face of [...set.faces.values()]) {
      if (compiled.predicate(face)) {
        set.faces.delete(face.faceId);
        deleted++;
      }
    }
    return { status: 200, body: { face_number: deleted, face_set_id: set.id, face_set_name: set.name } };
  }

  private createSet(call: FrsCall, f: Fields): FrsAnswer {
    const name = f.face_set_name;
    if (!nonEmpty(name) || typeof name !== 'string') return missing('face_set_name');
    if (name.length > 64) return badFormat('face_set_name must be 1-64 characters');
    if (this.store.get(call.projectId, name)) return frsError('FRS.0301', `The face set already exists: ${name}`);
    const capacity = f.face_set_capacity ?? 100_000;
    if (typeof capacity !== 'number' || !Number.isInteger(capacity) || capacity <= 0 || capacity % 10_000 !== 0 || capacity > 100_000) {
      return badFormat('face_set_capacity must be a multiple of 10000, at most 100000');
    }
    const schema: Record<string, { type: string }> = {};
    if (f.external_fields !== undefined) {
      if (!isRecord(f.external_fields)) return badFormat('external_fields must be an object {name: {type}}');
      const entries = Object.entries(f.external_fields);
      if (entries.length > 10) return badFormat('at most 10 external_fields');
      for (const [field, spec] of entries) {
        const type = isRecord(spec) && typeof spec.type === 'string' ? spec.type : undefined;
        if (!/^[A-Za-z0-9_-]{1,36}$/.test(field) || RESERVED_FIELDS.has(field)) return badFormat(`external field name ${field} is not allowed`);
        if (!type || !FIELD_TYPES.has(type.toLowerCase())) return badFormat(`external field ${field} needs a type of ${[...FIELD_TYPES].join(', ')}`);
        schema[field] = { type };
      }
    }
    const set = this.store.create(call.projectId, { name, createDate: call.now.toISOString(), capacity, externalFields: schema });
    return { status: 200, body: { face_set_info: faceSetInfo(set) } };
  }

  private subscribeStatus(): FrsAnswer {
    const service = { create_time: this.startedAt.toISOString(), subscribe_status: true };
    return {
      status: 200,
      body: {
        max_face_set_number: 10,
        detect_service: service,
        live_detect_service: service,
        compare_service: service,
        search_service: service,
      },
    };
  }
}

function compile(filter: string): { predicate: (f: StoredFace) => boolean } | FrsAnswer {
  try {
    return { predicate: compileFilter(filter) };
  } catch (e) {
    if (e instanceof FilterSyntaxError) return badFormat(`filter: ${e.message}`);
    throw e;
  }
}

function intParam(v: string | null, fallback: number): number | undefined {
  if (v === null || v === '') return fallback;
  return /^\d+$/.test(v) ? Number(v) : undefined;
}

function checkExternalFields(v: unknown, set: FaceSet): { values: Record<string, unknown> } | FrsAnswer {
  if (v === undefined) return { values: {} };
  if (!isRecord(v)) return badFormat('external_fields must be an object');
  for (const key of Object.keys(v)) {
    if (!(key in set.externalFields)) return frsError('FRS.0402', `The field does not exist in the face set: ${key}`);
  }
  return { values: { ...v } };
}

function pickFields(face: StoredFace, names: string[] | undefined): Record<string, unknown> {
  if (!names) return face.externalFields;
  return Object.fromEntries(names.filter((n) => n in face.externalFields).map((n) => [n, face.externalFields[n]]));
}

/** Detection attributes for the requested codes (reference §1.3); values derived from the body hash. */
function attributes(codes: string, u: (i: number) => number): Record<string, unknown> {
  const wanted = new Set(codes.split(',').map((c) => c.trim()));
  const out: Record<string, unknown> = {};
  if (wanted.has('2')) out.age = 18 + Math.floor(u(10) * 50);
  if (wanted.has('4')) out.dress = { glass: u(11) < 0.2 ? 'yes' : 'none', hat: u(12) < 0.1 ? 'yes' : 'none' };
  if (wanted.has('6')) out.mask = u(13) < 0.1 ? 'yes' : 'none';
  if (wanted.has('7')) out.hair = u(14) < 0.5 ? 'short' : 'long';
  if (wanted.has('8')) out.beard = u(15) < 0.2 ? 'yes' : 'none';
  if (wanted.has('11')) out.phototype = 'internet';
  if (wanted.has('12')) {
    out.quality = {
      total_score: round(0.6 + u(16) * 0.4),
      blur: round(u(17) * 0.3),
      pose: round(u(18) * 0.3),
      occlusion: round(u(19) * 0.3),
      illumination: round(u(20) * 0.3),
    };
  }
  if (wanted.has('13')) out.expression = { type: u(21) < 0.7 ? 'neutral' : 'happy', probability: round(0.6 + u(22) * 0.4) };
  if (wanted.has('21')) out.face_angle = 0;
  return out;
}
