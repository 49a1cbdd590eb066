// The alert rules: generated from thresholds.yml and up to date, complete annotations with a
// runbook section each, a promtool case before and after every `for:`, and promtool itself.

import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { AlertRule, buildAlertGroups, renderAlertsYaml, runbookAnchor } from '../../prometheus/generate-alerts';
import { durationSeconds, loadThresholds, parseThresholds, THRESHOLDS_FILE, Thresholds } from '../../prometheus/thresholds';
import { checkExpr } from './promql';
import { alertRules, ALERTS_FILE, Json, recordingRules, REPO } from './queries';
import { RECORDED_METRICS } from './metrics-contract';

const rules = alertRules();
const thresholds = loadThresholds();
const TESTS_DIR = join(REPO, 'prometheus', 'tests');

/** Issue #6's list, each with the alert that covers it and the threshold block it reads. */
const REQUIRED: Record<string, [alert: string, forOf: (t: Thresholds) => string]> = {
  'QPS saturation above 80% for 5 min': ['FrsQpsSaturationHigh', (t) => t.qpsSaturation.for],
  'throttling (FRS.0033) sustained': ['FrsThrottling', (t) => t.throttling.for],
  'QPS package expiring within 7 days': ['FrsQpsPackageExpiring', (t) => t.qpsPackageExpiry.for],
  'call package forecast to run out within 7 days': ['FrsCallPackageRunningOut', (t) => t.callPackageExhaustion.for],
  'call package below 10% left': ['FrsCallPackageLow', (t) => t.callPackageLow.for],
  'free calls below 10% with more than 5 days left': ['FrsFreeCallsLow', (t) => t.freeCallsLow.for],
  'error ratio above 5% for 10 min per operation': ['FrsErrorRatioHigh', (t) => t.errorRatio.for],
  'error code share far above its 7-day same-hour baseline': ['FrsErrorCodeAnomaly', (t) => t.errorAnomaly.for],
  'p99 above 80% of the timeout in force': ['FrsLatencyNearTimeout', (t) => t.latencyNearTimeout.for],
  'usage flush stalled over 60 s': ['FrsUsageFlushStalled', (t) => t.usageFlushStalled.for],
  'billing sync older than 36 h': ['FrsBillingSyncStale', (t) => t.billingSyncStale.for],
  'reconciliation difference on a final month': ['FrsReconciliationMismatch', (t) => t.reconciliation.for],
  'bursts of authentication failures (APIG.0301)': ['FrsUpstreamAuthFailures', (t) => t.authFailures.upstream.for],
  'bursts of authentication failures (METER.0401)': ['FrsClientAuthFailures', (t) => t.authFailures.client.for],
  'frs-meter cannot be scraped': ['FrsMeterDown', (t) => t.meterDown.for],
  // Issue 12: budgets.
  "a budget's alert threshold crossed": ['FrsBudgetThresholdCrossed', (t) => t.budget.thresholdFor],
  'a budget used up': ['FrsBudgetExhausted', (t) => t.budget.thresholdFor],
  'a budget forecast to run out before the month ends': ['FrsBudgetForecastExhausted', (t) => t.budget.forecastFor],
};

/** The anchors a Markdown renderer (GitHub, GitLab) gives the `##` headings of a file. */
function headingAnchors(markdown: string): Set<string> {
  return new Set(
    [...markdown.matchAll(/^#{1,6}\s+(.+?)\s*$/gm)].map((m) =>
      m[1].toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').trim().replace(/\s/g, '-'),
    ),
  );
}

interface PromtoolCase {
  file: string;
  test: string;
  alertname: string;
  evalSeconds: number;
  alerts: Json[];
}

function promtoolCases(): PromtoolCase[] {
  const out: PromtoolCase[] = [];
  for (const file of readdirSync(TESTS_DIR).filter((f) => f.endsWith('.yml'))) {
    const doc = parse(readFileSync(join(TESTS_DIR, file), 'utf8'));
    expect(doc.rule_files).toEqual(['../alerts.yml']);
    for (const t of doc.tests) {
      for (const c of t.alert_rule_test ?? []) {
        out.push({ file, test: t.name, alertname: c.alertname, evalSeconds: durationSeconds(c.eval_time), alerts: c.exp_alerts ?? [] });
      }
    }
  }
  return out;
}

describe('prometheus/alerts.yml', () => {
  test('is what generate-alerts.ts writes from thresholds.yml', () => {
    // On failure: npx ts-node --transpile-only prometheus/generate-alerts.ts
    expect(readFileSync(ALERTS_FILE, 'utf8') === renderAlertsYaml(thresholds)).toBe(true);
  });

  test.each(Object.entries(REQUIRED))('covers %s', (_what, [alert, forOf]) => {
    const rule = rules.find((r) => r.alert === alert);
    expect(rule).toBeDefined();
    expect(rule!.for).toBe(forOf(thresholds));
  });

  test('has no alert beyond the required list, and unique names', () => {
    const names = rules.map((r) => r.alert);
    expect(new Set(names).size).toBe(names.length);
    expect(names.sort()).toEqual(Object.values(REQUIRED).map(([a]) => a).sort());
  });

  test.each(rules.map((r) => [r.alert, r] as const))('%s has severity, summary, description with its value, runbook section', (name, r) => {
    expect(['critical', 'warning', 'info']).toContain(r.labels.severity);
    expect(Object.keys(r.annotations).sort()).toEqual(['description', 'runbook_url', 'summary']);
    expect(r.annotations.summary.length).toBeGreaterThan(10);
    // FrsMeterDown's value is always 0 (up == 0): its numbers are the instance and the duration.
    if (name !== 'FrsMeterDown') expect(r.annotations.description).toMatch(/\{\{ \$value \| humanize(Percentage|Duration)? \}\}/);
    const [page, anchor] = r.annotations.runbook_url.split('#');
    expect(page).toBe(thresholds.runbookBaseUrl);
    expect(anchor).toBe(runbookAnchor(name));
    expect(headingAnchors(readFileSync(join(REPO, 'docs', 'runbook.md'), 'utf8'))).toContain(anchor);
    expect(durationSeconds(r.for)).toBeGreaterThan(0);
    expect(checkExpr(r.expr)).toEqual([]);
  });

  test('its recording rules are the recorded series of the metric contract, each expression within it', () => {
    expect(recordingRules().map((r) => r.record).sort()).toEqual(Object.keys(RECORDED_METRICS).sort());
    for (const r of recordingRules()) expect({ record: r.record, problems: checkExpr(r.expr) }).toEqual({ record: r.record, problems: [] });
  });

  test('is listed in docs/operations.md, one line per alert', () => {
    const ops = readFileSync(join(REPO, 'docs', 'operations.md'), 'utf8');
    for (const r of rules) expect({ alert: r.alert, listed: ops.includes(`\`${r.alert}\``) }).toEqual({ alert: r.alert, listed: true });
  });
});

describe('thresholds live in one place', () => {
  test('a changed threshold changes the expression, the for: and the words of the alert', () => {
    const text = readFileSync(THRESHOLDS_FILE, 'utf8')
      .replace(/qps_saturation:\n {2}ratio: 0\.8\n {2}for: 5m/, 'qps_saturation:\n  ratio: 0.9\n  for: 7m');
    const changed = parseThresholds(text);
    const rule = buildAlertGroups(changed).flatMap((g) => g.rules).find((r): r is AlertRule => r.alert === 'FrsQpsSaturationHigh')!;
    expect(rule.expr).toMatch(/ > 0\.9$/);
    expect(rule.for).toBe('7m');
    expect(rule.annotations.description).toContain('above 90% of the QPS quota for 7m');
  });

  test('a bad thresholds.yml is refused with every problem listed', () => {
    const text = readFileSync(THRESHOLDS_FILE, 'utf8')
      .replace(/qps_saturation:\n {2}ratio: 0\.8/, 'qps_saturation:\n  ratio: lots')
      .replace(/billing_sync_stale:\n {2}hours: 36\n {2}for: 10m/, 'billing_sync_stale:\n  hours: 36\n  for: ten minutes');
    expect(() => parseThresholds(text)).toThrow(
      /qps_saturation\.ratio: expected a number from 0 to 10, got "lots"\n {2}- billing_sync_stale\.for: expected a Prometheus duration/,
    );
  });
});

describe('prometheus/tests (promtool test rules)', () => {
  const cases = promtoolCases();

  test.each(rules.map((r) => [r.alert, r] as const))('%s has a case before its for: elapses and one after', (name, r) => {
    const mine = cases.filter((c) => c.alertname === name);
    const after = mine.filter((c) => c.alerts.length > 0);
    expect(after.length).toBeGreaterThan(0);
    const before = mine.filter((c) => c.alerts.length === 0 && after.some((a) => a.test === c.test && a.evalSeconds > c.evalSeconds));
    expect(before.length).toBeGreaterThan(0);
    for (const c of after) {
      for (const a of c.alerts) {
        expect(a.exp_labels.severity).toBe(r.labels.severity);
        expect(a.exp_annotations).toEqual(expect.objectContaining({ runbook_url: r.annotations.runbook_url }));
        expect(Object.keys(a.exp_annotations).sort()).toEqual(['description', 'runbook_url', 'summary']);
      }
    }
  });

  const promtool = spawnSync('promtool', ['--version']).status === 0;
  const inCI = process.env.CI === 'true';
  if (!promtool && !inCI) console.warn('[alerts] promtool not installed: skipping promtool check/test rules (bash scripts/ci-promtool.sh installs it)');
  (promtool || inCI ? test : test.skip)('promtool check rules and test rules pass', () => {
    const check = spawnSync('promtool', ['check', 'rules', ALERTS_FILE], { encoding: 'utf8' });
    expect(check.error?.message ?? check.status).toBe(0);
    const files = readdirSync(TESTS_DIR).filter((f) => f.endsWith('.yml')).map((f) => join(TESTS_DIR, f));
    const run = spawnSync('promtool', ['test', 'rules', ...files], { encoding: 'utf8', cwd: TESTS_DIR });
    expect({ status: run.status, output: run.status === 0 ? '' : run.stdout + run.stderr }).toEqual({ status: 0, output: '' });
  }, 60_000);
});
