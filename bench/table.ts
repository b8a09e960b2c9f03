/** The bench's one table: rows with a value, an optional target and ok/MISS, as text, Markdown and JSON. */

export interface Row {
  suite: string;
  measure: string;
  /** The number behind `display` (null for an error row). */
  value: number | null;
  unit: string;
  display: string;
  target?: string;
  /** Against the target; undefined when the row has none. */
  ok?: boolean;
}

export const count = (n: number): string => Math.round(n).toLocaleString('en-US');
export const percent = (x: number): string => `${(x * 100).toFixed(1)} %`;
export const megabytes = (kib: number): string => `${((kib * 1024) / 1e6).toFixed(1)} MB`;

const verdict = (r: Row): string => (r.ok === undefined ? '' : r.ok ? 'ok' : 'MISS');

export function renderText(title: string, rows: Row[], notes: string[]): string {
  const cells = rows.map((r) => [r.suite, r.measure, r.display, r.target ?? '', verdict(r)]);
  const head = ['suite', 'measure', 'value', 'target', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c
      .map((v, i) => (i === 2 ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd();
  const out = [title, line(head), ...cells.map(line)];
  if (notes.length > 0) out.push('', ...notes.map((n) => `note: ${n}`));
  return `${out.join('\n')}\n`;
}

export function renderMarkdown(title: string, rows: Row[], notes: string[]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const out = [`# ${esc(title)}`, '', '| suite | measure | value | target | |', '| --- | --- | ---: | --- | --- |'];
  for (const r of rows) out.push(`| ${[r.suite, r.measure, r.display, r.target ?? '', verdict(r)].map(esc).join(' | ')} |`);
  if (notes.length > 0) out.push('', ...notes.map((n) => `- ${esc(n)}`));
  return `${out.join('\n')}\n`;
}
