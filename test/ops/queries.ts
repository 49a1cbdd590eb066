// Pulls every PromQL query out of the dashboards and the alert rules, and turns Grafana's
// template variables into plain PromQL that a real Prometheus can evaluate.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export const REPO = join(__dirname, '..', '..');
export const DASHBOARDS_DIR = join(REPO, 'grafana', 'dashboards');
export const ALERTS_FILE = join(REPO, 'prometheus', 'alerts.yml');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export interface DashboardFile {
  readonly file: string;
  readonly json: Json;
}

export interface PanelQuery {
  readonly dashboard: string;
  readonly panelId: number;
  readonly panelTitle: string;
  readonly panelType: string;
  readonly refId: string;
  readonly expr: string;
  readonly instant: boolean;
}

export interface AlertRuleDoc {
  readonly alert: string;
  readonly expr: string;
  readonly for: string;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
}

/** What Grafana puts in for its own variables when the tests evaluate a panel. */
export const GRAFANA_BUILTINS: Readonly<Record<string, string>> = Object.freeze({
  __rate_interval: '1m',
  __interval: '15s',
  __interval_ms: '15000',
  __range: '5m',
  __range_s: '300',
  __range_ms: '300000',
});

const VARIABLE = /\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]/g;

export function loadDashboards(dir = DASHBOARDS_DIR): DashboardFile[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, json: JSON.parse(readFileSync(join(dir, file), 'utf8')) }));
}

/** Every panel, including those nested in collapsed rows. */
export function panelsOf(dashboard: Json): Json[] {
  const out: Json[] = [];
  for (const p of dashboard.panels ?? []) {
    out.push(p);
    if (Array.isArray(p.panels)) out.push(...p.panels);
  }
  return out;
}

export function panelQueries(dashboard: Json): PanelQuery[] {
  return panelsOf(dashboard).flatMap((p) =>
    (p.targets ?? []).map((t: Json) => ({
      dashboard: dashboard.uid,
      panelId: p.id,
      panelTitle: p.title,
      panelType: p.type,
      refId: t.refId,
      expr: t.expr,
      instant: Boolean(t.instant),
    })),
  );
}

export function variableQueries(dashboard: Json): { name: string; query: string }[] {
  return (dashboard.templating?.list ?? [])
    .filter((v: Json) => v.type === 'query')
    .map((v: Json) => ({ name: v.name, query: typeof v.query === 'string' ? v.query : v.query?.query }));
}

export function annotationQueries(dashboard: Json): { name: string; expr: string }[] {
  return (dashboard.annotations?.list ?? []).filter((a: Json) => a.expr).map((a: Json) => ({ name: a.name, expr: a.expr }));
}

/** Names of the template variables an expression uses (Grafana's own `__…` ones included). */
export function usedVariables(expr: string): string[] {
  return [...expr.matchAll(VARIABLE)].map((m) => m[1] ?? m[2] ?? m[3]);
}

/** Replaces `$var`, `${var}`, `${var:fmt}` and `[[var]]`; an unknown variable is an error. */
export function substitute(expr: string, values: Readonly<Record<string, string>>): string {
  return expr.replace(VARIABLE, (whole, a?: string, b?: string, c?: string) => {
    const name = (a ?? b ?? c) as string;
    const v = values[name] ?? GRAFANA_BUILTINS[name];
    if (v === undefined) throw new Error(`no value for template variable ${whole} in ${expr}`);
    return v;
  });
}

/** Grafana's `label_values(selector, label)` as PromQL listing the label's values. */
export function labelValuesToPromQL(query: string): string {
  const m = query.trim().match(/^label_values\(\s*(?:(.+?)\s*,\s*)?([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$/);
  if (!m) throw new Error(`not a label_values() query: ${query}`);
  return `count by (${m[2]}) (${m[1] ?? '{__name__=~".+"}'})`;
}

/** The recording rules of alerts.yml, as `{record, expr}`. */
export function recordingRules(file = ALERTS_FILE): { record: string; expr: string }[] {
  const doc = parse(readFileSync(file, 'utf8'));
  return doc.groups.flatMap((g: Json) => g.rules.filter((r: Json) => r.record));
}

export function alertRules(file = ALERTS_FILE): AlertRuleDoc[] {
  const doc = parse(readFileSync(file, 'utf8'));
  return doc.groups.flatMap((g: Json) => g.rules.filter((r: Json) => r.alert));
}

/** Every query the dashboards and alerts would send, with template variables filled in. */
export function allQueries(values: Record<string, string>): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  for (const { file, json } of loadDashboards()) {
    for (const q of panelQueries(json)) out.push({ where: `${file} "${q.panelTitle}" ${q.refId}`, expr: substitute(q.expr, values) });
    for (const v of variableQueries(json)) out.push({ where: `${file} variable ${v.name}`, expr: substitute(labelValuesToPromQL(v.query), values) });
    for (const a of annotationQueries(json)) out.push({ where: `${file} annotation ${a.name}`, expr: substitute(a.expr, values) });
  }
  for (const r of alertRules()) out.push({ where: `alert ${r.alert}`, expr: r.expr });
  return out;
}
