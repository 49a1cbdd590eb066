// The emulator's own JSON control surface under /__emulator/: tests, the demo and people at a
// shell change faults, QPS, latency and the clock of a running emulator and read its ledger.
// Deliberately unauthenticated: it is a test tool, and the real FRS has no such paths.
//
//   GET    /__emulator/                 {ok, now}
//   GET|PUT /__emulator/faults          FaultSettings; PUT replaces each key given
//   GET|PUT /__emulator/qps             {operation: qps}; PUT sets the operations given
//   GET|PUT /__emulator/latency         {latencyScale, operations: {op: {medianMs, p99Ms}}}
//   GET    /__emulator/ledger?since=n   {entries: LedgerEntry[]} with seq > n
//   DELETE /__emulator/ledger           empties it (seq keeps counting)
//   GET|PUT /__emulator/clock           {"now": ISO} fixes, {"offset_ms": n} shifts, {} resets
// Bad input is answered 400 {"error_code": "EMULATOR.0400", "error_msg": <every problem>}.

import type { ServerResponse } from 'node:http';
import type { OperationName } from '../frs/operations';
import type { FaultSettings } from './faults';
import type { LatencySettings } from './latency';
import type { LedgerEntry } from './ledger';
import { EmulatorInputError, Problems, isRecord } from './validation';

/** What a PUT /__emulator/clock body or setClock() can say. */
export type ClockSetting = Date | { offsetMs: number } | null;

export interface ControlApi {
  getFaults(): FaultSettings;
  setFaults(partial: unknown): FaultSettings;
  getQps(): Record<OperationName, number>;
  setQps(partial: unknown): Record<OperationName, number>;
  getLatency(): LatencySettings;
  setLatency(partial: unknown): LatencySettings;
  ledger(since?: number): LedgerEntry[];
  clearLedger(): void;
  setClock(setting: ClockSetting): void;
  now(): Date;
}

export const CONTROL_PREFIX = '/__emulator/';

type Send = (res: ServerResponse, status: number, obj: unknown) => void;

function controlError(send: Send, res: ServerResponse, status: number, message: string): void {
  send(res, status, { error_code: `EMULATOR.0${status}`, error_msg: message });
}

/** `{"now": ISO}` fixes the clock, `{"offset_ms": n}` shifts real time, `{}` returns to real time. */
export function parseClockSetting(body: unknown): ClockSetting {
  const p = new Problems();
  if (!isRecord(body)) p.add('clock must be {"now": ISO time}, {"offset_ms": n} or {}');
  else if (body.now !== undefined && body.offset_ms !== undefined) p.add('clock: give now or offset_ms, not both');
  else if (body.now !== undefined) {
    if (typeof body.now !== 'string' || Number.isNaN(Date.parse(body.now))) p.add(`clock.now must be an ISO time, got ${JSON.stringify(body.now)}`);
    else return new Date(body.now);
  } else if (body.offset_ms !== undefined) {
    const ms = p.number('clock.offset_ms', body.offset_ms, -1e13, 1e13);
    if (ms !== undefined) return { offsetMs: ms };
  } else return null;
  p.throwIfAny();
  return null;
}

function parseJson(body: Buffer): unknown {
  if (body.length === 0) return {};
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new EmulatorInputError(['the body is not valid JSON']);
  }
}

/** Answers one control request; `path` starts with CONTROL_PREFIX. */
export function handleControl(api: ControlApi, method: string, path: string, query: URLSearchParams, body: Buffer, res: ServerResponse, send: Send): void {
  const route = path.slice(CONTROL_PREFIX.length).replace(/\/$/, '');
  try {
    switch (`${method} ${route}`) {
      case 'GET ':
        return send(res, 200, { ok: true, now: api.now().toISOString() });
      case 'GET faults':
        return send(res, 200, api.getFaults());
      case 'PUT faults':
        return send(res, 200, api.setFaults(parseJson(body)));
      case 'GET qps':
        return send(res, 200, api.getQps());
      case 'PUT qps':
        return send(res, 200, api.setQps(parseJson(body)));
      case 'GET latency':
        return send(res, 200, api.getLatency());
      case 'PUT latency':
        return send(res, 200, api.setLatency(parseJson(body)));
      case 'GET ledger': {
        const since = query.get('since');
        if (since !== null && !/^\d+$/.test(since)) throw new EmulatorInputError([`since must be a sequence number, got ${JSON.stringify(since)}`]);
        return send(res, 200, { entries: api.ledger(since === null ? undefined : Number(since)) });
      }
      case 'DELETE ledger':
        api.clearLedger();
        return send(res, 200, { cleared: true });
      case 'GET clock':
        return send(res, 200, { now: api.now().toISOString() });
      case 'PUT clock':
        api.setClock(parseClockSetting(parseJson(body)));
        return send(res, 200, { now: api.now().toISOString() });
      default:
        return controlError(send, res, 404, `no control route ${method} ${path}: see src/emulator/control.ts`);
    }
  } catch (e) {
    if (e instanceof EmulatorInputError) return controlError(send, res, 400, e.message);
    throw e;
  }
}
