// The harvester turns the QPS tracker's per-second peaks into a per-minute histogram. The
// database is swapped for a recorder (a unit spec); the tracker is the real one.

import { ManualClock } from '../common/clock';
import { QpsTracker } from '../quota/qps-tracker';
import type { QuotaService } from '../quota/quota.service';
import type { DataSource } from 'typeorm';
import { PeakHarvester } from './peak-harvester';

test('per-second peaks of completed seconds become minute × calls → seconds rows, once', async () => {
  const t0 = Date.parse('2026-03-10T10:00:00Z');
  const clock = new ManualClock(t0 + 30_000, { frozen: true });
  const tracker = new QpsTracker();
  // Second :05 holds 3 calls close together (peak 3); second :06 one call, whose sliding second
  // still holds :05's last two (peak 3 again).
  tracker.record('face_detect', t0 + 5_000);
  tracker.record('face_detect', t0 + 5_050);
  tracker.record('face_detect', t0 + 5_100);
  tracker.record('face_detect', t0 + 6_000);
  // Second :20: one call on its own.
  tracker.record('face_detect', t0 + 20_000);
  const quota = { secondPeaks: (op: 'face_detect', from: number, to: number) => tracker.secondMaxima(op, from, to) } as unknown as QuotaService;
  const writes: unknown[][] = [];
  const db = { query: async (_sql: string, params: unknown[]) => void writes.push(params) } as unknown as DataSource;
  const h = new PeakHarvester(clock, db, quota);
  await h.harvest();
  expect(writes).toHaveLength(1);
  const [minutes, ops, calls, seconds] = writes[0] as [Date[], string[], number[], number[]];
  const rows = minutes.map((m, i) => [m.toISOString(), ops[i], calls[i], seconds[i]]).sort();
  expect(rows).toEqual([
    ['2026-03-10T10:00:00.000Z', 'face_detect', 1, 1],
    ['2026-03-10T10:00:00.000Z', 'face_detect', 3, 2],
  ]);
  // The same seconds are not harvested twice.
  await h.harvest();
  expect(writes).toHaveLength(1);
});
