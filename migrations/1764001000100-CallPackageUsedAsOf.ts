import { MigrationInterface, QueryRunner } from 'typeorm';

// call_packages.used_as_of: used_calls is the balance Huawei showed at this instant (default: the
// registration). Calls metered inside the package window before it are already in used_calls:
// they are attributed to the package without being drawn from it again.
export class CallPackageUsedAsOf1764001000100 implements MigrationInterface {
  name = 'CallPackageUsedAsOf1764001000100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE call_packages ADD COLUMN used_as_of TIMESTAMPTZ`);
    await q.query(`UPDATE call_packages SET used_as_of = registered_at`);
    await q.query(`ALTER TABLE call_packages ALTER COLUMN used_as_of SET NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE call_packages DROP COLUMN used_as_of`);
  }
}
