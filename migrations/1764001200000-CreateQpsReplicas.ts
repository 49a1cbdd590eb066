import { MigrationInterface, QueryRunner } from 'typeorm';

// Live frs-meter replicas for cluster-wide QPS shaping (FRS_METER_QPS_COORDINATION=postgres or
// redis): each replica upserts its row every heartbeat; a row older than the TTL is a crashed
// replica and is ignored (and deleted by the next replica that registers). heartbeat_at is the
// database's clock, so replicas with skewed clocks still agree on who is live.
export class CreateQpsReplicas1764001200000 implements MigrationInterface {
  name = 'CreateQpsReplicas1764001200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE qps_replicas (
        id           TEXT PRIMARY KEY,
        started_at   TIMESTAMPTZ NOT NULL,
        heartbeat_at TIMESTAMPTZ NOT NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE qps_replicas`);
  }
}
