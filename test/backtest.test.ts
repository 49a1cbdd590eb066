// The forecast backtest (scripts/backtest-forecast.ts) on a synthetic history in a real Postgres:
// January and February 2025 with the same weekly shape every week — weekdays 10 calls an hour
// 08:00–19:59 (120 a day), weekends 5 an hour 10:00–13:59 (20 a day), Beijing time. With no
// variation the profile is exact, the day ratios are all 1, and a replay of February at day 5, 10
// and 20 must forecast the true total with no error and an interval that holds it.
// February 2025 by hand: 1 Feb is a Saturday; 20 weekdays × 120 + 8 weekend days × 20 = 2560.

import { loadConfig } from '../src/config/config';
import { createDataSource, runMigrations } from '../src/database/database';
import { backtest, formatBacktest } from '../src/insights/backtest';
import { createTestDatabase } from './support/db';

const HOUR = 3600_000;
const DAY = 86_400_000;

describe('forecast backtest', () => {
  it('replays February at day 5, 10 and 20 against the month it really was', async () => {
    const tdb = await createTestDatabase('backtest');
    const db = createDataSource(tdb.url);
    await db.initialize();
    try {
      await runMigrations(db);
      const minutes: Date[] = [];
      const months: string[] = [];
      const counts: number[] = [];
      for (let day = Date.parse('2025-01-01T00:00:00+08:00'); day < Date.parse('2025-03-01T00:00:00+08:00'); day += DAY) {
        const weekday = new Date(day + 8 * HOUR).getUTCDay();
        const weekend = weekday === 0 || weekday === 6;
        for (let h = 0; h < 24; h++) {
          const n = weekend ? (h >= 10 && h < 14 ? 5 : 0) : h >= 8 && h < 20 ? 10 : 0;
          if (n === 0) continue;
          minutes.push(new Date(day + h * HOUR));
          months.push(new Date(day + 8 * HOUR).toISOString().slice(0, 7));
          counts.push(n);
        }
      }
      await db.query(
        `INSERT INTO usage_counts (minute, billing_month, app, operation, kind, code, error_code, outcome, count, billable)
         SELECT m, bm, 'app-a', 'face_detect', 'attempt', 200, 'none', 'success', n, n FROM unnest($1::timestamptz[], $2::text[], $3::bigint[]) AS t(m, bm, n)`,
        [minutes, months, counts],
      );
      const config = loadConfig({ FRS_ENDPOINT: 'http://127.0.0.1:1', HUAWEICLOUD_SDK_AK: 'a', HUAWEICLOUD_SDK_SK: 'b', FRS_METER_SECRET_KEY: '0123456789abcdef', DATABASE_URL: tdb.url });
      const rows = await backtest(config, db, ['2025-02']);
      expect(rows.map((r) => [r.day, r.operation, r.truth, r.p10, r.p50, r.p90, r.error, r.covered])).toEqual([
        [5, 'face_detect', 2560, 2560, 2560, 2560, 0, true],
        [10, 'face_detect', 2560, 2560, 2560, 2560, 0, true],
        [20, 'face_detect', 2560, 2560, 2560, 2560, 0, true],
      ]);
      const text = formatBacktest(rows);
      expect(text).toContain('day 10: mean absolute error 0.0%, inside the 80% interval 1 of 1 (100%)');
    } finally {
      await db.destroy();
      await tdb.drop();
    }
  }, 60_000);
});
