import type { ProgressView } from './meter.js';

const BAR_WIDTH = 20;
const n = (v: number) => v.toLocaleString('en-US');
const rate = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));

/** `1h 02m`, `3m 05s`, `42s`; `2d 03h` past a day. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (x: number) => String(x).padStart(2, '0');
  if (d > 0) return `${d}d ${pad(h)}h`;
  if (h > 0) return `${h}h ${pad(m)}m`;
  if (m > 0) return `${m}m ${pad(s % 60)}s`;
  return `${s}s`;
}

/**
 * The terminal status line: a pure function of the view. It never wraps (a wrapped line cannot
 * be redrawn with `\r`): the widest form that fits in `columns - 1` is used (the bar goes
 * first, then the total and the separators), and the last resort is cut with an ellipsis.
 */
export function formatProgressLine(v: ProgressView, columns = 100): string {
  const pct = v.percent === null ? null : `${v.percent.toFixed(1).padStart(5)}%`;
  const full = v.percent === null ? 0 : Math.round((v.percent / 100) * BAR_WIDTH);
  const bar = pct && `${pct} ${'█'.repeat(full)}${'░'.repeat(BAR_WIDTH - full)}`;
  let req = v.limitPerSecond === null ? `${rate(v.requestsPerSecond)} req/s (no limit)` : `${rate(v.requestsPerSecond)}/${rate(v.limitPerSecond)} req/s`;
  if (v.share < 1) req += ` (slowed to ${Math.round(v.share * 100)}%)`;
  const eta = v.bytesTotal === null ? null : `ETA ${v.etaSeconds === null ? '--' : formatDuration(v.etaSeconds)}`;
  const counts = (sep: string) =>
    [`ok ${n(v.ok)}`, `no_recs ${n(v.no_recs)}`, `unknown ${n(v.unknown_user)}`, `failed ${n(v.failed)}`, `skipped ${n(v.skipped)}`, ...(v.unchanged !== undefined ? [`unchanged ${n(v.unchanged)}`] : []), ...(v.carried ? [`carried ${n(v.carried)}`] : []), ...(v.not_fetched ? [`not fetched ${n(v.not_fetched)}`] : [])].join(sep);
  const forms = [
    [bar, `${n(v.users)} users`, `${rate(v.usersPerSecond)} users/s`, req, eta, counts(' · ')],
    [pct, `${n(v.users)} users`, `${rate(v.usersPerSecond)} users/s`, req, eta, counts(' · ')],
    [pct, `${rate(v.usersPerSecond)} users/s`, req, eta, counts(' ')],
  ].map((parts) => parts.filter((p) => p !== null).join('  '));
  const max = Math.max(10, columns - 1);
  const fits = forms.find((f) => f.length <= max);
  if (fits) return fits;
  const last = forms.at(-1)!;
  return `${last.slice(0, max - 1)}…`;
}
