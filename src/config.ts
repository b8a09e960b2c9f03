import { isAbsolute, resolve } from 'node:path';
import type { ProfileQuery, PropensityType } from './api/types.js';
import { usageError } from './errors.js';
import type { LogLevel } from './log.js';

/** Where bytes come from or go to. */
export type Location = { kind: 'file'; path: string } | { kind: 'stdio' };

export type Format = 'csv' | 'jsonl';

/** The export flags as yargs hands them over (PRODUCT.md, "Command line"). */
export interface ExportArgs {
  input?: string;
  output?: string;
  format?: string;
  userIdColumn: string;
  deviceIdColumn: string;
  recId?: string;
  recType?: string;
  predictionId?: string;
  propensityType?: string;
  ampProps: boolean;
  cohortIds: boolean;
  computations: boolean;
  compId?: string;
  maxItems?: number;
  apiUrl: string;
  secretKeyFile?: string;
  rateLimit: number;
  rateInterval: number;
  concurrency: number;
  timeout: number;
  maxRetries: number;
  checkpoint?: string;
  fresh: boolean;
  grace: number;
  errors?: string;
  escapeFormulas: boolean;
  logLevel: string;
}

/** Every option, validated and normalised once. */
export interface ExportConfig {
  input: Location;
  output: Location;
  format: Format;
  /** Errors file (CSV); always a file. */
  errorsPath: string;
  /** null when the output cannot be resumed (stdout). */
  checkpointPath: string | null;
  userIdColumn: string;
  deviceIdColumn: string;
  query: ProfileQuery;
  /** Item columns (CSV) or items kept per rec (JSONL); null keeps all (JSONL default). */
  maxItems: number | null;
  apiUrl: URL;
  /** Requests per interval; 0 = no limit. */
  rateLimit: number;
  rateIntervalMs: number;
  concurrency: number;
  timeoutMs: number;
  maxRetries: number;
  fresh: boolean;
  graceMs: number;
  escapeFormulas: boolean;
  logLevel: LogLevel;
}

const LOG_LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

/** `a, b,,c` -> ['a','b','c'] */
export const splitList = (s: string | undefined): string[] =>
  (s ?? '').split(',').map((x) => x.trim()).filter(Boolean);

export function parseLocation(s: string): Location {
  if (s === '-') return { kind: 'stdio' };
  return { kind: 'file', path: isAbsolute(s) ? s : resolve(s) };
}

/** `{date}` -> the run's UTC date, so a nightly job writes a new file each night. */
export function fillPath(template: string, now: Date): string {
  return template.replaceAll('{date}', now.toISOString().slice(0, 10));
}

export function formatFromPath(path: string | undefined): Format {
  return path && /\.(jsonl|ndjson)$/i.test(path) ? 'jsonl' : 'csv';
}

/**
 * Checks every option and reports all problems in one line (exit 2), before any file is
 * opened or request sent.
 */
export function buildConfig(a: ExportArgs, now = new Date()): ExportConfig {
  const problems: string[] = [];
  const need = (ok: boolean, msg: string) => {
    if (!ok) problems.push(msg);
  };
  const int = (v: number, name: string, min: number, max = Number.MAX_SAFE_INTEGER) =>
    need(Number.isInteger(v) && v >= min && v <= max, `--${name} expects a whole number from ${min} to ${max}, got ${fmt(v)}`);
  const num = (v: number, name: string, min: number, exclusive = false) =>
    need(Number.isFinite(v) && (exclusive ? v > min : v >= min), `--${name} expects a number ${exclusive ? 'above' : 'of at least'} ${min}, got ${fmt(v)}`);

  need(a.input !== undefined && a.input !== '', '--input is required (a CSV path, or - for stdin)');
  need(a.output !== undefined && a.output !== '', '--output is required (a path, or - for stdout)');
  const outputPath = a.output ? fillPath(a.output, now) : '-';
  for (const [flag, v] of [['input', a.input], ['output', a.output], ['checkpoint', a.checkpoint], ['errors', a.errors]] as const) {
    need(!v?.startsWith('s3://'), `--${flag} ${v}: s3:// locations are not supported yet`);
  }

  let format: Format = formatFromPath(outputPath);
  if (a.format !== undefined) {
    need(a.format === 'csv' || a.format === 'jsonl', `--format expects csv or jsonl, got ${a.format}`);
    if (a.format === 'jsonl' || a.format === 'csv') format = a.format;
  }
  need(a.recType === undefined || a.recType === 'model' || a.recType === 'random', `--rec-type expects model or random, got ${a.recType}`);
  need(
    a.propensityType === undefined || a.propensityType === 'score' || a.propensityType === 'pct',
    `--propensity-type expects score or pct, got ${a.propensityType}`,
  );
  const predictionIds = splitList(a.predictionId);
  need(a.propensityType === undefined || predictionIds.length > 0, '--propensity-type needs --prediction-id');
  const recIds = splitList(a.recId);
  need(a.recType === undefined || recIds.length > 0, '--rec-type needs --rec-id');

  if (a.maxItems !== undefined) int(a.maxItems, 'max-items', 0, 100_000);
  int(a.rateLimit, 'rate-limit', 0);
  num(a.rateInterval, 'rate-interval', 0, true);
  int(a.concurrency, 'concurrency', 1, 1024);
  num(a.timeout, 'timeout', 0, true);
  int(a.maxRetries, 'max-retries', 0, 100);
  num(a.grace, 'grace', 0);
  need(LOG_LEVELS.has(a.logLevel), `--log-level expects one of ${[...LOG_LEVELS].join(', ')}, got ${a.logLevel}`);
  need(a.userIdColumn !== '' && a.deviceIdColumn !== '', 'the id column names must not be empty');

  let apiUrl: URL | undefined;
  try {
    apiUrl = new URL(a.apiUrl);
    need(apiUrl.protocol === 'https:' || apiUrl.protocol === 'http:', `--api-url must be http(s), got ${a.apiUrl}`);
  } catch {
    problems.push(`--api-url is not a URL: ${a.apiUrl}`);
  }

  if (problems.length > 0 || !apiUrl) throw usageError(problems.join('; '));

  const output = parseLocation(outputPath);
  const base = output.kind === 'file' ? output.path : resolve('amp-profile-export');
  return {
    input: parseLocation(a.input!),
    output,
    format,
    errorsPath: a.errors ? resolve(fillPath(a.errors, now)) : `${base}.errors.csv`,
    checkpointPath: output.kind === 'stdio' ? null : a.checkpoint ? resolve(fillPath(a.checkpoint, now)) : `${base}.checkpoint.json`,
    userIdColumn: a.userIdColumn,
    deviceIdColumn: a.deviceIdColumn,
    query: {
      recIds,
      recType: a.recType as ProfileQuery['recType'],
      ampProps: a.ampProps,
      cohortIds: a.cohortIds,
      computations: a.computations,
      compIds: splitList(a.compId),
      predictionIds,
      propensityType: a.propensityType as PropensityType | undefined,
    },
    maxItems: a.maxItems ?? (format === 'csv' ? 10 : null),
    apiUrl,
    rateLimit: a.rateLimit,
    rateIntervalMs: Math.round(a.rateInterval * 1000),
    concurrency: a.concurrency,
    timeoutMs: Math.round(a.timeout * 1000),
    maxRetries: a.maxRetries,
    fresh: a.fresh,
    graceMs: Math.round(a.grace * 1000),
    escapeFormulas: a.escapeFormulas,
    logLevel: a.logLevel as LogLevel,
  };
}

const fmt = (v: unknown) => (typeof v === 'number' && Number.isNaN(v) ? 'something that is not a number' : String(v));
