import type { ScenarioResult } from './stats.js';

/** A number as a reader wants it in a table: three significant figures or so, no exponent; counts as integers. */
export function formatNumber(x: number, unit?: string): string {
  if (!Number.isFinite(x) || (unit === 'count' && Number.isInteger(x))) return String(x);
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : x.toFixed(2);
}

/** The bench's table: one block per scenario (title, setup, figures), then the goals. */
export function renderTable(header: string, results: ScenarioResult[]): string {
  const w = 52;
  const lines = [header, '', `${'figure'.padEnd(w)}${'median'.padStart(10)}${'min'.padStart(10)}${'max'.padStart(10)}  unit`];
  for (const r of results) {
    lines.push('', `${r.title} — ${r.setup}`);
    if (r.error) lines.push(`  FAILED: ${r.error}`);
    for (const f of r.figures) {
      lines.push(
        `  ${f.label.padEnd(w - 2)}${formatNumber(f.median, f.unit).padStart(10)}${formatNumber(f.min, f.unit).padStart(10)}${formatNumber(f.max, f.unit).padStart(10)}  ${f.unit}`,
      );
    }
  }
  lines.push('', 'Goals (reported against the medians, never asserted)');
  for (const r of results) {
    for (const g of r.goals) {
      const measured = g.measured === undefined ? '' : `: ${formatNumber(g.measured)}`;
      lines.push(`  ${(g.met === undefined ? '[n/a]' : g.met ? '[met]' : '[NOT met]').padEnd(10)} ${g.text}${measured}`);
    }
    if (r.error && r.goals.length === 0) lines.push(`  ${'[failed]'.padEnd(10)} ${r.title}`);
  }
  return lines.join('\n');
}
