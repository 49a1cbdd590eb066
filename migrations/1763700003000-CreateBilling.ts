import { MigrationInterface, QueryRunner } from 'typeorm';

// Huawei bills pulled from BSS (src/billing). A month is stored whole: billing_months holds one
// row per bill cycle with its totals, and its summary rows and resource records hang off it with
// ON DELETE CASCADE, so a re-pull replaces the month in one transaction (delete + insert) and
// readers see the old month or the new one, never a mix. Amounts are NUMERIC without a scale:
// resource records carry up to 8 decimals and jiao/fen amounts converted to yuan carry more,
// and nothing may be rounded on the way in. `raw` keeps each record as BSS sent it (numbers as
// their exact text) for audit and for fields we do not model.
// Package snapshots are appended when a pull sees something new; billing_sync_state says when
// each kind of pull last succeeded (frs_billing_last_sync_timestamp_seconds) and which package
// snapshot is current.
export class CreateBilling1763700003000 implements MigrationInterface {
  name = 'CreateBilling1763700003000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE billing_months (
        bill_cycle                  TEXT PRIMARY KEY CHECK (bill_cycle ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
        status                      TEXT NOT NULL CHECK (status IN ('provisional', 'final')),
        service_type_code           TEXT NOT NULL,
        currency                    TEXT,
        measure_id                  INTEGER,
        consume_amount              NUMERIC NOT NULL,
        cash_amount                 NUMERIC,
        credit_amount               NUMERIC,
        coupon_amount               NUMERIC,
        debt_amount                 NUMERIC,
        writeoff_amount             NUMERIC,
        flexipurchase_coupon_amount NUMERIC,
        stored_value_card_amount    NUMERIC,
        summary_rows                INTEGER NOT NULL,
        aggregated_records          INTEGER NOT NULL,
        detailed_records            INTEGER NOT NULL,
        content_sha256              TEXT NOT NULL,
        fetched_at                  TIMESTAMPTZ NOT NULL,
        changed_at                  TIMESTAMPTZ NOT NULL
      )`);
    await q.query(`
      CREATE TABLE billing_summary_rows (
        bill_cycle                  TEXT NOT NULL REFERENCES billing_months (bill_cycle) ON DELETE CASCADE,
        row_no                      INTEGER NOT NULL,
        customer_id                 TEXT,
        account_name                TEXT,
        service_type_code           TEXT,
        service_type_name           TEXT,
        resource_type_code          TEXT,
        resource_type_name          TEXT,
        charging_mode               INTEGER,
        bill_type                   INTEGER,
        operation                   TEXT,
        official_amount             NUMERIC,
        official_discount_amount    NUMERIC,
        truncated_amount            NUMERIC,
        consume_amount              NUMERIC NOT NULL,
        coupon_amount               NUMERIC,
        flexipurchase_coupon_amount NUMERIC,
        stored_value_card_amount    NUMERIC,
        debt_amount                 NUMERIC,
        writeoff_amount             NUMERIC,
        cash_amount                 NUMERIC,
        credit_amount               NUMERIC,
        raw                         JSONB NOT NULL,
        PRIMARY KEY (bill_cycle, row_no)
      )`);
    await q.query(`
      CREATE TABLE billing_resource_records (
        bill_cycle               TEXT NOT NULL REFERENCES billing_months (bill_cycle) ON DELETE CASCADE,
        statistic_type           SMALLINT NOT NULL CHECK (statistic_type IN (1, 3)),
        row_no                   INTEGER NOT NULL,
        operation                TEXT,
        bill_date                TEXT,
        bill_type                INTEGER,
        customer_id              TEXT,
        region                   TEXT,
        cloud_service_type       TEXT,
        resource_type            TEXT,
        resource_id              TEXT,
        resource_name            TEXT,
        product_spec_desc        TEXT,
        sku_code                 TEXT,
        charge_mode              TEXT,
        usage_type               TEXT,
        usage                    NUMERIC,
        usage_measure_id         INTEGER,
        free_resource_usage      NUMERIC,
        free_resource_measure_id INTEGER,
        unit_price               NUMERIC,
        unit                     TEXT,
        official_amount          NUMERIC,
        discount_amount          NUMERIC,
        amount                   NUMERIC,
        trade_id                 TEXT,
        consume_time             TEXT,
        effective_time           TEXT,
        expire_time              TEXT,
        raw                      JSONB NOT NULL,
        PRIMARY KEY (bill_cycle, statistic_type, row_no)
      )`);
    await q.query(`CREATE INDEX billing_resource_records_operation ON billing_resource_records (bill_cycle, statistic_type, operation)`);
    await q.query(`
      CREATE TABLE billing_package_snapshots (
        fetched_at             TIMESTAMPTZ NOT NULL,
        order_instance_id      TEXT NOT NULL,
        free_resource_id       TEXT NOT NULL,
        product_name           TEXT,
        status                 INTEGER,
        effective_time         TEXT,
        expire_time            TEXT,
        quota_reuse_mode       INTEGER,
        usage_type_name        TEXT,
        remaining              NUMERIC,
        original               NUMERIC,
        measure_id             INTEGER,
        quota_reuse_cycle      INTEGER,
        quota_reuse_cycle_type INTEGER,
        start_time             TEXT,
        end_time               TEXT,
        raw                    JSONB NOT NULL,
        PRIMARY KEY (fetched_at, order_instance_id, free_resource_id)
      )`);
    await q.query(`
      CREATE TABLE billing_sync_state (
        kind            TEXT PRIMARY KEY,
        last_success_at TIMESTAMPTZ,
        last_error_at   TIMESTAMPTZ,
        last_error      TEXT,
        snapshot_at     TIMESTAMPTZ,
        content_sha256  TEXT
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE billing_sync_state`);
    await q.query(`DROP TABLE billing_package_snapshots`);
    await q.query(`DROP TABLE billing_resource_records`);
    await q.query(`DROP TABLE billing_summary_rows`);
    await q.query(`DROP TABLE billing_months`);
  }
}
