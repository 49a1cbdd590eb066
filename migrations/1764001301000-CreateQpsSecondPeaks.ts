import { MigrationInterface, QueryRunner } from 'typeorm';

// Per-second peaks of upstream attempts, as a histogram per minute and operation: in how many
// seconds the busiest sliding second held `calls` attempts. Seconds without attempts are not
// stored. Each replica adds its own seconds (QPS is per replica here; see docs). The package
// advisor (GET /admin/advice) reads a month of it to say what a QPS package size would have covered.
export class CreateQpsSecondPeaks1764001301000 implements MigrationInterface {
  name = 'CreateQpsSecondPeaks1764001301000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE qps_second_peaks (
        minute    TIMESTAMPTZ NOT NULL,
        operation TEXT NOT NULL,
        calls     INTEGER NOT NULL CHECK (calls > 0),
        seconds   INTEGER NOT NULL CHECK (seconds > 0),
        PRIMARY KEY (minute, operation, calls)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE qps_second_peaks`);
  }
}
