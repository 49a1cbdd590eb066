// A small, deliberately partial PromQL reader for the ops tests: which metrics and labels an
// expression names, checked against the metric contract. Syntax itself is left to a real
// Prometheus (promtool, live-prometheus.test.ts).

import { FRS_METRICS, OPERATIONS, PROMETHEUS_METRICS, RECORDED_METRICS, TARGET_LABELS, UPSTREAM_OUTCOMES } from './metrics-contract';

export interface Matcher {
  readonly label: string;
  readonly op: '=' | '!=' | '=~' | '!~';
  readonly value: string;
}

export interface Selector {
  readonly metric: string;
  readonly matchers: readonly Matcher[];
}

const STRING = /"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g;
const MATCHER = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')/g;
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'] as const;
const KEYWORDS = new Set([
  'sum', 'min', 'max', 'avg', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'group',
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset',
]);

/** Blanks string literals so names inside label values are not mistaken for metrics. */
export function stripStrings(expr: string): string {
  return expr.replace(STRING, (s) => s[0] + ' '.repeat(Math.max(0, s.length - 2)) + s[0]);
}

/** Every vector selector: `name{…}` and bare metric names (function calls and keywords excluded). */
export function selectors(expr: string): Selector[] {
  const blank = stripStrings(expr);
  const found: Selector[] = [];
  const ident = /[a-zA-Z_:][a-zA-Z0-9_:]*/g;
  for (let m = ident.exec(blank); m !== null; m = ident.exec(blank)) {
    const name = m[0];
    const before = blank.slice(0, m.index);
    const after = blank.slice(m.index + name.length);
    if (/[0-9.]$/.test(before) || /\[[^\]]*$/.test(before)) continue; // part of a number or a [5m] range
    if (KEYWORDS.has(name) || /^\s*\(/.test(after)) continue; // keyword or function call
    if (/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*$/.test(before)) continue; // a grouping label
    if (/\{[^}]*$/.test(before)) continue; // a label name inside braces
    if (/^(Inf|NaN|inf|nan)$/.test(name)) continue;
    const braces = /^\s*\{/.test(after) ? expr.slice(m.index + name.length).match(/^\s*\{([^}]*)\}/) : null;
    const matchers: Matcher[] = [];
    if (braces) {
      for (const mm of braces[1].matchAll(MATCHER)) {
        matchers.push({ label: mm[1], op: mm[2] as Matcher['op'], value: mm[3].slice(1, -1) });
      }
    }
    found.push({ metric: name, matchers });
  }
  return found;
}

/** Labels named in by/without/on/ignoring/group_left/group_right clauses. */
export function groupingLabels(expr: string): string[] {
  const out: string[] = [];
  for (const m of stripStrings(expr).matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)) {
    out.push(...m[1].split(',').map((s) => s.trim()).filter((s) => s !== ''));
  }
  return out;
}

/** The contract labels of a metric name (histogram series resolved to their family), or undefined. */
export function labelsOf(metric: string): readonly string[] | undefined {
  if (FRS_METRICS[metric]) return FRS_METRICS[metric].type === 'histogram' ? undefined : FRS_METRICS[metric].labels;
  if (PROMETHEUS_METRICS[metric]) return PROMETHEUS_METRICS[metric];
  if (RECORDED_METRICS[metric]) return RECORDED_METRICS[metric];
  for (const suffix of HISTOGRAM_SUFFIXES) {
    const base = metric.slice(0, -suffix.length);
    if (metric.endsWith(suffix) && FRS_METRICS[base]?.type === 'histogram') {
      return suffix === '_bucket' ? [...FRS_METRICS[base].labels, 'le'] : FRS_METRICS[base].labels;
    }
  }
  return undefined;
}

/** The contract metric family a series name belongs to (`x_bucket` → `x`). */
export function familyOf(metric: string): string {
  for (const suffix of HISTOGRAM_SUFFIXES) {
    const base = metric.slice(0, -suffix.length);
    if (metric.endsWith(suffix) && FRS_METRICS[base]?.type === 'histogram') return base;
  }
  return metric;
}

/** Problems with the metrics and labels an expression names; empty when it keeps to the contract. */
export function checkExpr(expr: string): string[] {
  const problems: string[] = [];
  const sels = selectors(expr);
  if (sels.length === 0) problems.push('names no metric');
  const allowedInExpr = new Set<string>(TARGET_LABELS);
  for (const s of sels) {
    const labels = labelsOf(s.metric);
    if (labels === undefined) {
      problems.push(`unknown metric ${s.metric} (not in test/ops/metrics-contract.ts)`);
      continue;
    }
    labels.forEach((l) => allowedInExpr.add(l));
    for (const m of s.matchers) {
      if (!labels.includes(m.label) && !TARGET_LABELS.includes(m.label) && m.label !== '__name__') {
        problems.push(`${s.metric} has no label ${m.label}`);
      }
      if (m.op === '=' || m.op === '!=') {
        if (m.label === 'operation' && !m.value.startsWith('$') && !OPERATIONS.includes(m.value)) {
          problems.push(`unknown operation "${m.value}"`);
        }
        if (m.label === 'outcome' && !UPSTREAM_OUTCOMES.includes(m.value)) problems.push(`unknown outcome "${m.value}"`);
      }
    }
  }
  for (const l of groupingLabels(expr)) {
    if (!allowedInExpr.has(l)) problems.push(`groups by ${l}, a label none of its metrics has`);
  }
  return problems;
}
