import type { Logger } from '../log.js';
import { formatProgressLine } from './format.js';
import { ProgressMeter } from './meter.js';
import type { ProgressProbe, StartProgress } from './probe.js';
import { StatusLine } from './status-line.js';

/** At most 4 redraws a second: smooth enough to watch, cheap for a terminal over ssh. */
export const REDRAW_MS = 250;
/** Off a terminal the counters are still sampled every second, so rates cover ~10 s whatever the interval. */
const SAMPLE_MS = 1000;

export interface ProgressOptions {
  enabled: boolean;
  /** Seconds between JSON progress lines off a terminal. */
  intervalMs: number;
  /** stderr; a TTY gets the status line, anything else the JSON lines. */
  stderr: NodeJS.WriteStream;
}

export interface Progress {
  /** For createLogger's `write` on a terminal (log lines above the status line); else undefined. */
  write: ((line: string) => void) | undefined;
  /** Hands runExport its reporter, once the logger exists; undefined with --no-progress. */
  start(log: Logger): StartProgress | undefined;
}

/**
 * `--progress` (the default): on a terminal a redrawn status line, off it a JSON `progress`
 * log line every `--progress-interval` seconds. Both read counters on a timer only.
 */
export function createProgress(o: ProgressOptions): Progress {
  const tty = o.enabled && o.stderr.isTTY === true;
  const status = tty ? new StatusLine(o.stderr) : undefined;
  return {
    write: status?.writeAbove,
    start(log) {
      if (!o.enabled) return undefined;
      return status ? (probe) => onTerminal(probe, status, () => o.stderr.columns) : (probe) => asLogLines(probe, log, o.intervalMs);
    },
  };
}

function onTerminal(probe: ProgressProbe, status: StatusLine, columns: () => number | undefined): () => void {
  const meter = new ProgressMeter(probe, performance.now());
  const timer = setInterval(() => status.draw(formatProgressLine(meter.read(performance.now()), columns() || 100)), REDRAW_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    status.clear();
  };
}

function asLogLines(probe: ProgressProbe, log: Logger, intervalMs: number): () => void {
  const started = performance.now();
  const meter = new ProgressMeter(probe, started);
  const every = tick(intervalMs);
  let last = started;
  const timer = setInterval(() => {
    const now = performance.now();
    const view = meter.read(now);
    // Half a tick of slack: a timer that fires a little early still reports this interval.
    if (now - last >= intervalMs - every / 2) {
      last = now;
      log.info(view, 'progress');
    }
  }, every);
  timer.unref();
  return () => clearInterval(timer);
}

const tick = (intervalMs: number) => Math.max(100, Math.min(SAMPLE_MS, intervalMs));
