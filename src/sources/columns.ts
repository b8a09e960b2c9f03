/**
 * Most columns a header may have: the widest sheet Excel and LibreOffice save. A wider "header"
 * is almost always the wrong file (or one whose line ends were not recognised), and each of its
 * rows would be parsed cell by cell for nothing.
 */
export const MAX_COLUMNS = 16_384;

/**
 * The positions of the header's columns that a run keeps: the id columns and `used`, every
 * occurrence (a name given twice keeps its first-wins rule and its warning). Null when a used
 * column is missing: the output layout then refuses the job and shows the whole header.
 * Rows keep only these cells, so a wide input costs per row only what the output needs, and
 * the checkpoint stores only these names (README, Input).
 */
export function keptColumns(header: string[], ids: string[], used: string[]): number[] | null {
  const names = header.map((h) => h.trim());
  if (used.some((u) => !names.includes(u)) || !ids.some((id) => names.includes(id))) return null;
  const want = new Set([...ids, ...used]);
  return names.flatMap((n, i) => (want.has(n) ? [i] : []));
}

/** The cells of `record` at `at` (a short row gives empty cells). */
export function project(record: string[], at: number[]): string[] {
  return at.map((i) => record[i] ?? '');
}
