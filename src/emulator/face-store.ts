// Face sets and their faces, in memory per project, as FRS keeps them: enough state for
// search, list, update and delete to answer consistently within one emulator run.

import { Random, letterId } from './random';

export interface BoundingBox {
  top_left_x: number;
  top_left_y: number;
  width: number;
  height: number;
}

export interface StoredFace {
  faceId: string;
  externalImageId: string;
  boundingBox: BoundingBox;
  externalFields: Record<string, unknown>;
}

export interface FaceSet {
  id: string;
  name: string;
  createDate: string;
  capacity: number;
  /** Custom field schema: name → {type}. */
  externalFields: Record<string, { type: string }>;
  /** Insertion-ordered, which is the order list calls page through. */
  faces: Map<string, StoredFace>;
}

export class FaceStore {
  private readonly projects = new Map<string, Map<string, FaceSet>>();

  constructor(private readonly rand: Random) {}

  list(projectId: string): FaceSet[] {
    return [...(this.projects.get(projectId)?.values() ?? [])];
  }

  get(projectId: string, name: string): FaceSet | undefined {
    return this.projects.get(projectId)?.get(name);
  }

  create(projectId: string, set: Omit<FaceSet, 'id' | 'faces'>): FaceSet {
    let sets = this.projects.get(projectId);
    if (!sets) this.projects.set(projectId, (sets = new Map()));
    const created: FaceSet = { ...set, id: letterId(this.rand), faces: new Map() };
    sets.set(set.name, created);
    return created;
  }

  delete(projectId: string, name: string): boolean {
    return this.projects.get(projectId)?.delete(name) ?? false;
  }

  addFace(set: FaceSet, face: Omit<StoredFace, 'faceId'>): StoredFace {
    let faceId = letterId(this.rand);
    while (set.faces.has(faceId)) faceId = letterId(this.rand);
    const stored = { ...face, faceId };
    set.faces.set(faceId, stored);
    return stored;
  }
}

export function faceSetInfo(set: FaceSet): Record<string, unknown> {
  return {
    face_set_name: set.name,
    face_set_id: set.id,
    create_date: set.createDate,
    face_number: set.faces.size,
    face_set_capacity: set.capacity,
    external_fields: set.externalFields,
  };
}

export function faceView(face: StoredFace): Record<string, unknown> {
  return {
    bounding_box: face.boundingBox,
    face_id: face.faceId,
    external_image_id: face.externalImageId,
    external_fields: face.externalFields,
  };
}

export class FilterSyntaxError extends Error {}

type Predicate = (face: StoredFace) => boolean;

/**
 * Compiles the subset of FRS's filter syntax (reference §1.3) that tests and demos use:
 * `field:value`, ranges `field:[a TO b]` / `{a TO b}` with `*` for open ends, `&&`, `||`
 * (`&&` binds tighter), parentheses, and `!` negation. Fields are external_image_id, face_id
 * and custom fields.
 */
export function compileFilter(filter: string): Predicate {
  const tokens = filter.match(/&&|\|\||[()!]|[^\s()!&|[{]+(?:[[{][^\]}]*[\]}])?/g) ?? [];
  let i = 0;
  const peek = () => tokens[i];
  const next = () => tokens[i++];

  function orExpr(): Predicate {
    let left = andExpr();
    while (peek() === '||') {
      next();
      const l = left;
      const r = andExpr();
      left = (f) => l(f) || r(f);
    }
    return left;
  }
  function andExpr(): Predicate {
    let left = unary();
    while (peek() === '&&') {
      next();
      const l = left;
      const r = unary();
      left = (f) => l(f) && r(f);
    }
    return left;
  }
  function unary(): Predicate {
    const t = next();
    if (t === undefined) throw new FilterSyntaxError('unexpected end of filter');
    if (t === '!') {
      const inner = unary();
      return (f) => !inner(f);
    }
    if (t === '(') {
      const inner = orExpr();
      if (next() !== ')') throw new FilterSyntaxError('missing )');
      return inner;
    }
    return term(t);
  }
  const e = orExpr();
  if (i !== tokens.length) throw new FilterSyntaxError(`unexpected ${tokens[i]}`);
  return e;
}

function fieldValue(face: StoredFace, field: string): unknown {
  if (field === 'external_image_id') return face.externalImageId;
  if (field === 'face_id') return face.faceId;
  return face.externalFields[field];
}

function term(token: string): Predicate {
  const colon = token.indexOf(':');
  if (colon <= 0 || colon === token.length - 1) throw new FilterSyntaxError(`expected field:value, got ${token}`);
  const field = token.slice(0, colon);
  const value = token.slice(colon + 1);
  const range = /^([[{])\s*(\S+)\s+TO\s+(\S+)\s*([\]}])$/.exec(value);
  if (range) {
    const [, open, lo, hi, close] = range;
    const min = lo === '*' ? -Infinity : Number(lo);
    const max = hi === '*' ? Infinity : Number(hi);
    if (Number.isNaN(min) || Number.isNaN(max)) throw new FilterSyntaxError(`range bounds must be numbers: ${value}`);
    return (f) => {
      const v = Number(fieldValue(f, field));
      if (Number.isNaN(v)) return false;
      const aboveMin = open === '[' ? v >= min : v > min;
      const belowMax = close === ']' ? v <= max : v < max;
      return aboveMin && belowMax;
    };
  }
  return (f) => String(fieldValue(f, field)) === value;
}
