import type { ExportConfig } from '../config.js';

/** Input columns the output reads besides the ids: passthrough columns, and a preset's email column. */
export function columnsUsed(cfg: ExportConfig): string[] {
  const { esp } = cfg;
  return [...esp.passthrough.map((c) => c.from), ...(esp.preset && esp.key === 'email' ? [esp.emailColumn] : [])];
}
