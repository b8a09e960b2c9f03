import { stat } from 'node:fs/promises';
import type { ExportConfig } from '../config.js';
import type { RunSummary } from '../summary.js';
import { writeFileAtomic } from './atomic.js';

/** A file's size, or null when it is not there. */
export async function sizeOf(path: string | null): Promise<number | null> {
  if (path === null) return null;
  try {
    const st = await stat(path);
    return st.isFile() ? st.size : null;
  } catch {
    return null;
  }
}

/**
 * Writes `--summary` (JSON) and `--metrics-file` (Prometheus text), each atomically. `scrub`
 * removes the secret key from the text (guarantee 7: an error message could quote it).
 */
export async function writeRunReports(cfg: ExportConfig, s: RunSummary, scrub: (text: string) => string): Promise<void> {
  const writes: Array<Promise<void>> = [];
  if (cfg.summaryPath) writes.push(writeFileAtomic(cfg.summaryPath, scrub(`${JSON.stringify(s, null, 2)}\n`)));
  if (cfg.metricsPath) {
    const path = cfg.metricsPath;
    // prom-client is loaded only by runs that report metrics (about 50 ms of startup otherwise).
    writes.push(import('./metrics.js').then(async (m) => writeFileAtomic(path, await m.prometheusText(s, scrub))));
  }
  const failed = (await Promise.allSettled(writes)).find((w) => w.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}
