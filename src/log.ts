import pino, { type Logger } from 'pino';
import { proxyScrubber } from './proxy-redact.js';
import { scrubber } from './secret.js';

export type { Logger };
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export interface LogOptions {
  level: LogLevel;
  /** Scrubbed from every line written, whatever field or message it hides in. */
  secret?: string | undefined;
  /** Human-readable lines instead of JSON (a person at a terminal). */
  pretty?: boolean;
  /** Defaults to stderr: stdout may carry the export itself (`--output -`). */
  write?: (line: string) => void;
}

/**
 * pino JSON on stderr. Redaction covers the places a key could sit in a structured field;
 * the scrubber under it catches the key anywhere else in the line (an error message, a URL).
 */
export function createLogger(opts: LogOptions): Logger {
  const scrubKey = scrubber(opts.secret);
  // Proxy credentials too, whatever their form (README, "Operating it: behind an egress proxy").
  const scrubProxy = proxyScrubber();
  const scrub = (line: string) => scrubProxy(scrubKey(line));
  const write = opts.write ?? ((line: string) => process.stderr.write(line));
  const format = opts.pretty ? prettyLine : (line: string) => line;
  return pino(
    {
      level: opts.level,
      base: undefined,
      redact: {
        paths: ['secret', 'key', 'secretKey', 'headers.authorization', 'authorization', '*.authorization', 'req.headers.authorization'],
        censor: '[REDACTED]',
      },
    },
    { write: (line: string) => write(format(scrub(line))) },
  );
}

const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** `12:00:01 WARN message key=value ...` for a terminal. */
function prettyLine(line: string): string {
  let obj: Record<string, unknown>;
  try {
    obj = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const { level, time, msg, ...rest } = obj;
  const at = typeof time === 'number' ? new Date(time).toISOString().slice(11, 19) : '';
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${at} ${LEVEL_NAMES[level as number] ?? level} ${msg ?? ''}${fields ? ' ' + fields : ''}\n`;
}

/**
 * Node's process warnings (an SDK's notice that it will need a newer Node) as one log line each,
 * instead of the free text Node prints among the JSON lines: a log shipper that reads one JSON
 * object a line would drop or mangle them. Each warning once; `--no-warnings` (Node's own
 * printer not installed) keeps them silent.
 */
export function warningsTo(log: Logger): void {
  const node = process.listeners('warning');
  if (node.length === 0) return;
  for (const l of node) process.off('warning', l);
  const seen = new Set<string>();
  process.on('warning', (w: Error & { code?: string }) => {
    // As Node's printer: --no-deprecation silences deprecations.
    if (w.name === 'DeprecationWarning' && process.noDeprecation) return;
    const text = `${w.name}: ${w.message}`;
    if (seen.has(text)) return;
    seen.add(text);
    log.warn({ warning: w.name, ...(w.code ? { code: w.code } : {}) }, w.message.replace(/\s*\n\s*/g, ' ').trim());
  });
}
