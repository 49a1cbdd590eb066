// Answer-time model: FRS latencies are heavy-tailed, so each operation draws from a lognormal
// fitted to a median and a p99. The proxy's rolling p99, timeouts and histograms are tuned
// against this, so the shape matters more than the exact numbers.

import { OPERATION_NAMES, OperationName } from '../frs/operations';
import { Random, normal } from './random';
import { OPERATION_KEY_HINT, Problems, isOperationName, isRecord } from './validation';

export interface LatencyModel {
  medianMs: number;
  p99Ms: number;
}

export interface LatencySettings {
  /** Multiplies every drawn latency; 0 answers at once (fast tests), 1 is the modelled FRS. */
  latencyScale: number;
  operations: Record<OperationName, LatencyModel>;
}

export type LatencySettingsInput = { latencyScale?: number; operations?: Partial<Record<OperationName, LatencyModel>> };

// Image operations answer in tens to hundreds of milliseconds; action liveness decodes a
// video and takes seconds; library management is a database lookup.
const IMAGE = { medianMs: 80, p99Ms: 300 };
const LIBRARY = { medianMs: 20, p99Ms: 80 };
export const DEFAULT_LATENCY: Readonly<Record<OperationName, LatencyModel>> = Object.freeze({
  face_detect: IMAGE,
  face_compare: { medianMs: 100, p99Ms: 350 },
  face_search: { medianMs: 90, p99Ms: 320 },
  live_detect: { medianMs: 1500, p99Ms: 5000 },
  live_detect_face: { medianMs: 150, p99Ms: 500 },
  face_add: { medianMs: 120, p99Ms: 400 },
  face_delete: LIBRARY,
  face_batch_delete: { medianMs: 40, p99Ms: 150 },
  face_update: LIBRARY,
  face_list: LIBRARY,
  face_set_create: { medianMs: 40, p99Ms: 150 },
  face_set_list: LIBRARY,
  face_set_show: LIBRARY,
  face_set_delete: { medianMs: 40, p99Ms: 150 },
  subscribe_status: { medianMs: 15, p99Ms: 60 },
  unknown: { medianMs: 5, p99Ms: 20 },
});

/** z-score of the 99th percentile of a standard normal. */
const Z99 = 2.3263478740408408;
/** Draws are capped so a single sample cannot hold a test or a demo for minutes. */
const TAIL_CAP = 3;

export function validateLatency(input: unknown): LatencySettingsInput {
  const p = new Problems();
  const out: LatencySettingsInput = {};
  if (!isRecord(input)) {
    p.add('latency must be a JSON object {latencyScale?, operations?: {operation: {medianMs, p99Ms}}}');
    p.throwIfAny();
  }
  const src = input as Record<string, unknown>;
  for (const k of Object.keys(src)) if (k !== 'latencyScale' && k !== 'operations') p.add(`latency.${k} is not a setting: expected latencyScale or operations`);
  if ('latencyScale' in src) out.latencyScale = p.number('latency.latencyScale', src.latencyScale, 0, 100);
  if ('operations' in src) {
    if (!isRecord(src.operations)) p.add('latency.operations must be an object {operation: {medianMs, p99Ms}}');
    else {
      out.operations = {};
      for (const [op, m] of Object.entries(src.operations)) {
        if (!isOperationName(op)) p.add(`latency.operations.${op}: expected ${OPERATION_KEY_HINT.replace(' or *', '')}`);
        else if (!isRecord(m)) p.add(`latency.operations.${op} must be {medianMs, p99Ms}`);
        else {
          const medianMs = p.number(`latency.operations.${op}.medianMs`, m.medianMs, 0, 600_000);
          const p99Ms = p.number(`latency.operations.${op}.p99Ms`, m.p99Ms, 0, 600_000);
          if (medianMs !== undefined && p99Ms !== undefined) {
            if (p99Ms < medianMs) p.add(`latency.operations.${op}: p99Ms (${p99Ms}) is below medianMs (${medianMs})`);
            else out.operations[op] = { medianMs, p99Ms };
          }
        }
      }
    }
  }
  p.throwIfAny();
  return out;
}

export class LatencySampler {
  private settings: LatencySettings;

  constructor(
    initial: LatencySettingsInput | undefined,
    private readonly rand: Random,
  ) {
    this.settings = { latencyScale: 1, operations: { ...DEFAULT_LATENCY } };
    if (initial) this.set(initial);
  }

  get(): LatencySettings {
    return JSON.parse(JSON.stringify(this.settings)) as LatencySettings;
  }

  /** Validates and applies: latencyScale replaces; each operation given replaces that operation's model. */
  set(partial: unknown): LatencySettings {
    const valid = validateLatency(partial);
    if (valid.latencyScale !== undefined) this.settings.latencyScale = valid.latencyScale;
    for (const op of OPERATION_NAMES) {
      const m = valid.operations?.[op];
      if (m) this.settings.operations[op] = { ...m };
    }
    return this.get();
  }

  /** Milliseconds to wait before answering one call of `op`. */
  sampleMs(op: OperationName): number {
    const scale = this.settings.latencyScale;
    const { medianMs, p99Ms } = this.settings.operations[op];
    if (scale === 0 || medianMs === 0) return 0;
    const sigma = p99Ms > medianMs ? Math.log(p99Ms / medianMs) / Z99 : 0;
    const draw = medianMs * Math.exp(sigma * normal(this.rand));
    return Math.min(draw, p99Ms * TAIL_CAP) * scale;
  }
}
