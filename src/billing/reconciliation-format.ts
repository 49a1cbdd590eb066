// The reconciliation as plain text for terminals (npm run demo): one table per operation, one
// per app, then the explanations and notes. Widths are measured in display columns, so Chinese
// text in names does not break the alignment.

import type { ReconciliationReport } from './reconciliation';

function width(s: string): number {
  let w = 0;
  for (const ch of s) w += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/.test(ch) ? 2 : 1;
  return w;
}

function pad(s: string, n: number, right: boolean): string {
  const fill = ' '.repeat(Math.max(0, n - width(s)));
  return right ? fill + s : s + fill;
}

function table(headers: string[], rows: string[][], rightAligned: boolean[]): string[] {
  const widths = headers.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i]))));
  const line = (cells: string[]) => cells.map((c, i) => pad(c, widths[i], rightAligned[i])).join('  ').trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

const dash = (v: string | number | null | undefined): string => (v === null || v === undefined ? '-' : String(v));

function signed(n: number | null): string {
  if (n === null) return '-';
  return n > 0 ? `+${n}` : String(n);
}

/** Renders a reconciliation report as a text table. */
export function formatReconciliation(r: ReconciliationReport): string {
  const currency = r.currency ?? '';
  const out: string[] = [];
  const fetched = r.fetched_at ? `, fetched ${r.fetched_at}` : '';
  out.push(`Reconciliation ${r.bill_cycle} — bill ${r.status}${fetched}`);
  out.push(`Bill total: ${dash(r.bill_total)} ${currency}   (per-resource records: ${dash(r.records_total)})`);
  out.push('');

  const ops = r.operations.filter((o) => o.metered_calls > 0 || (o.billed_calls ?? 0) > 0 || (o.billed_amount !== null && o.billed_amount !== '0.00'));
  out.push(
    ...table(
      ['operation', 'metered', 'free', 'call pkg', 'qps pkg', 'paid', 'billed', 'diff', 'billed amount', 'estimate'],
      ops.map((o) => [
        o.operation,
        String(o.metered_calls),
        String(o.free_tier),
        String(o.call_package),
        String(o.qps_package),
        String(o.pay_per_use),
        dash(o.billed_calls),
        signed(o.difference_calls),
        dash(o.billed_amount),
        dash(o.estimated_cost),
      ]),
      [false, true, true, true, true, true, true, true, true, true],
    ),
  );
  if (ops.length === 0) out.push('(no calls metered or billed)');
  const t = r.totals;
  out.push(`Total: metered ${t.metered_calls}, billed ${dash(t.billed_calls)}, difference ${signed(t.difference_calls)}, billed amount ${dash(t.billed_amount)} ${currency}`);

  if (r.apps.length > 0 || r.unattributed_amount !== null) {
    out.push('');
    const rows = r.apps.map((a) => [a.app, String(a.billable_calls), `${(Number(a.share_of_calls) * 100).toFixed(2)}%`, dash(a.share_amount)]);
    if (r.unattributed_amount !== null && r.unattributed_amount !== '0.00') rows.push(['(unattributed)', '-', '-', r.unattributed_amount]);
    out.push(...table(['app', 'valid calls', 'share', `amount ${currency}`.trim()], rows, [false, true, true, true]));
  }

  const explained = ops.filter((o) => o.causes.some((c) => c.code !== 'match'));
  if (explained.length > 0) {
    out.push('');
    out.push('Differences:');
    for (const o of explained) out.push(`  ${o.operation}: ${o.explanation}`);
  }
  if (r.notes.length > 0) {
    out.push('');
    for (const n of r.notes) out.push(`Note: ${n}`);
  }
  return out.join('\n') + '\n';
}
