import type { ExportConfig } from './config.js';
import type { ExportResult } from './export.js';

/** The final log line's fields: what an operator checking last night's run looks for. */
export function summaryLine(r: ExportResult, cfg: ExportConfig) {
  const seconds = r.durationMs / 1000;
  return {
    ...r.counts,
    requests: r.requests.requests,
    retries: r.requests.retries,
    throttled: r.requests.throttled,
    slowdowns: r.requests.slowdowns,
    durationSeconds: Math.round(seconds * 10) / 10,
    requestsPerSecond: seconds > 0 ? Math.round((r.requests.requests / seconds) * 100) / 100 : 0,
    output: cfg.output.kind === 'file' ? cfg.output.path : 'stdout',
    outputBytes: r.outputBytes,
    errorsFile: r.counts.failed + r.counts.skipped > 0 ? cfg.errorsPath : null,
  };
}
