import { budgetRequests, parseBudget, parseDuration } from './budget.js';
import { isAbsolute, resolve } from 'node:path';
import type { ProfileQuery, PropensityType } from './api/types.js';
import { isS3Url, parseS3Url } from './aws/s3url.js';
import type { Location } from './contracts/location.js';

export type { Location };
import { MAX_PART_MIB, MIB, MIN_PART_MIB, SSE_VALUES, type S3Settings, type Sse } from './aws/settings.js';
import { usageError } from './errors.js';
import { type EspArgs, type EspOptions, parseEspOptions } from './output/options.js';
import type { LogLevel } from './log.js';
import type { Shard } from './pipeline/shard.js';
import { redactUrl } from './redact.js';


export type Format = 'csv' | 'jsonl';

/** The export flags as yargs hands them over (README, "Running it for real"; `export --help`); EspArgs: --preset and co. */
export interface ExportArgs extends EspArgs {
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
  progress: boolean;
  progressInterval: number;
  dryRun: boolean;
  summary?: string;
  metricsFile?: string;
  metricsPush?: string;
  metricsJob?: string;
  redisUrl?: string;
  limiterId: string;
  shard?: string;
  shards?: number;
  s3PathStyle: boolean;
  s3Sse?: string;
  s3KmsKeyId?: string;
  s3PartSize: number;
  leaseSeconds: number;
  takeOverLease: boolean;
  state?: string;
  delta: boolean;
  removed?: string;
  resetState: boolean;
  refreshBudget?: string;
  maxAge?: string;
}

/** `--state` and what goes with it (README "Incremental exports"); null when there is no state. */
export interface StateOptions {
  /** A local path or an s3:// URL, `{shard}` and `{date}` filled in. */
  path: string;
  /** Write only new and changed users. */
  delta: boolean;
  /** Where users the state holds but the input lacks are written; null = nowhere (they still leave the state). */
  removedPath: string | null;
  /** Start from an empty state; replace it when the run completes. */
  reset: boolean;
  /** --refresh-budget in requests for this process (a duration already turned into requests); null = no budget. */
  budget: number | null;
  /** --max-age: users fetched more recently are carried; null = none. */
  maxAgeMs: number | null;
}

/** Every option, validated and normalised once. */
export interface ExportConfig {
  input: Location;
  output: Location;
  format: Format;
  /** Errors file (CSV): a file path or an s3:// URL. */
  errorsPath: string;
  /** A file path or an s3:// URL; null when the output cannot be resumed (stdout). */
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
  /** Progress on stderr (status line on a terminal, else JSON lines every `progressIntervalMs`). */
  progress: boolean;
  progressIntervalMs: number;
  dryRun: boolean;
  /** `--summary` JSON and `--metrics-file` Prometheus text, written at the end of a run; null = none. */
  summaryPath: string | null;
  metricsPath: string | null;
  /** `--metrics-push`: the Pushgateway and the job label the metrics are grouped under (with the shard); null = none. */
  metricsPush: { url: URL; job: string } | null;
  /** Shared rate limit through Redis; undefined = this process alone. */
  redisUrl: string | undefined;
  limiterId: string;
  shard: Shard;
  s3: S3Settings;
  /** --preset, --passthrough, --control, --split-rows/--split-bytes (output/options.ts). */
  esp: EspOptions;
  /** An S3 lease not renewed for this long is taken over by the next run (README "Operating it"). @default 120 */
  leaseSeconds: number;
  /** Take over a fresh S3 lease: a person knows its run is gone. @default false */
  takeOverLease: boolean;
  /** --state, --delta, --removed, --reset-state; null without --state. */
  state: StateOptions | null;
}

const LOG_LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

/** `a, b,,c` -> ['a','b','c'] */
export const splitList = (s: string | undefined): string[] =>
  (s ?? '').split(',').map((x) => x.trim()).filter(Boolean);

export function parseLocation(s: string): Location {
  if (s === '-') return { kind: 'stdio' };
  if (isS3Url(s)) {
    const loc = parseS3Url(s);
    if (typeof loc === 'string') throw usageError(`${s}: ${loc}`);
    return loc;
  }
  return { kind: 'file', path: isAbsolute(s) ? s : resolve(s) };
}

/** How a location is named in fingerprints and messages: its path, its s3:// URL, or `-`. */
export function locationName(loc: Location): string {
  return loc.kind === 'file' ? loc.path : loc.kind === 's3' ? loc.url : '-';
}

/** `{date}` -> the run's UTC date, so a nightly job writes a new file each night. */
export function fillPath(template: string, now: Date, shard?: Shard): string {
  return template.replaceAll('{date}', now.toISOString().slice(0, 10)).replaceAll('{shard}', String(shard?.index ?? 0));
}

/** `--shard i/n`, or `--shards n` with i from JOB_COMPLETION_INDEX; problems are pushed. */
export function parseShard(a: Pick<ExportArgs, 'shard' | 'shards'>, env: NodeJS.ProcessEnv, problems: string[]): Shard {
  if (a.shard !== undefined && a.shards !== undefined) problems.push('give --shard i/n or --shards n, not both');
  if (a.shard !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(a.shard.trim());
    const index = Number(m?.[1]);
    const count = Number(m?.[2]);
    if (!m || count < 1 || index >= count) problems.push(`--shard expects i/n with 0 <= i < n, got ${a.shard}`);
    else return { index, count };
  } else if (a.shards !== undefined) {
    const raw = env.JOB_COMPLETION_INDEX;
    const index = Number(raw);
    if (!Number.isInteger(a.shards) || a.shards < 1) problems.push(`--shards expects a whole number of at least 1, got ${a.shards}`);
    else if (raw === undefined || !Number.isInteger(index) || index < 0 || index >= a.shards) {
      problems.push(`--shards ${a.shards} needs JOB_COMPLETION_INDEX from 0 to ${a.shards - 1} (a Kubernetes Indexed Job sets it), got ${raw ?? 'nothing'}`);
    } else return { index, count: a.shards };
  }
  return { index: 0, count: 1 };
}

/** `--metrics-push URL` and `--metrics-job` (default the --limiter-id); problems are pushed, the URL's credentials never shown. */
export function parseMetricsPush(a: Pick<ExportArgs, 'metricsPush' | 'metricsJob' | 'limiterId'>, problems: string[]): ExportConfig['metricsPush'] {
  const job = a.metricsJob ?? a.limiterId;
  if (a.metricsJob !== undefined && a.metricsJob.trim() === '') problems.push('--metrics-job must not be empty');
  if (a.metricsPush === undefined || a.metricsPush === '') return null;
  // The Pushgateway reads the job from the URL path, where a slash would start another label.
  if (job.includes('/')) problems.push(`--metrics-job ${job}: a Pushgateway job name cannot hold a slash${a.metricsJob === undefined ? ' (it defaults to the --limiter-id)' : ''}`);
  let url: URL | undefined;
  try {
    url = new URL(a.metricsPush);
  } catch {
    // Falls through to the message below.
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.search !== '' || url.hash !== '') {
    problems.push(`--metrics-push expects a Pushgateway's http(s) URL (http://pushgateway:9091), got ${redactUrl(a.metricsPush)}`);
    return null;
  }
  return { url, job };
}

export function formatFromPath(path: string | undefined): Format {
  return path && /\.(jsonl|ndjson)$/i.test(path) ? 'jsonl' : 'csv';
}

/**
 * Checks every option and reports all problems in one line (exit 2), before any file is
 * opened or request sent.
 */
export function buildConfig(a: ExportArgs, now = new Date(), env: NodeJS.ProcessEnv = process.env): ExportConfig {
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
  const shard = parseShard(a, env, problems);
  const outputPath = a.output ? fillPath(a.output, now, shard) : '-';
  need(a.redisUrl === undefined || /^rediss?:\/\//.test(a.redisUrl), `--redis-url expects redis://host:port or rediss://..., got ${a.redisUrl?.replace(/:[^:@/]*@/, ':***@')}`);
  need(a.limiterId !== '', '--limiter-id must not be empty');
  const metricsPush = parseMetricsPush(a, problems);
  for (const [flag, v] of [['summary', a.summary], ['metrics-file', a.metricsFile]] as const) {
    need(!v?.startsWith('s3://'), `--${flag} ${v}: s3:// locations are not supported yet`);
  }
  for (const [flag, v] of [['input', a.input], ['output', outputPath], ['checkpoint', a.checkpoint && fillPath(a.checkpoint, now, shard)], ['errors', a.errors && fillPath(a.errors, now, shard)]] as const) {
    const why = isS3Url(v) ? parseS3Url(v) : undefined;
    if (typeof why === 'string') problems.push(`--${flag} ${v}: ${why}`);
  }
  const statePath = a.state ? fillPath(a.state, now, shard) : undefined;
  const removedPath = a.removed ? fillPath(a.removed, now, shard) : undefined;
  const refresh = refreshOptions(a, shard.count, problems);
  for (const [flag, on] of [['delta', a.delta], ['removed', a.removed !== undefined], ['reset-state', a.resetState], ['refresh-budget', a.refreshBudget !== undefined], ['max-age', a.maxAge !== undefined]] as const) {
    need(!on || statePath !== undefined, `--${flag} needs --state (the file that remembers what was delivered)`);
  }
  need(a.state === undefined || a.state !== '', '--state must not be empty');
  need(a.removed === undefined || a.removed !== '', '--removed must not be empty');
  need(a.removed !== '-', '--removed - : the removed users go to a file or an s3:// object, not stdout');
  // Shards sharing one state would each report the others' users as removed.
  need(!a.state || shard.count === 1 || a.state.includes('{shard}'), `--state ${a.state}: with shards, put {shard} in the path (one state per shard)`);
  need(!a.removed || shard.count === 1 || a.removed.includes('{shard}'), `--removed ${a.removed}: with shards, put {shard} in the path (each shard reports its own users)`);
  for (const [flag, v] of [['state', statePath], ['removed', removedPath]] as const) {
    const why = isS3Url(v) ? parseS3Url(v) : undefined;
    if (typeof why === 'string') problems.push(`--${flag} ${v}: ${why}`);
  }
  need(a.s3Sse === undefined || SSE_VALUES.includes(a.s3Sse), `--s3-sse expects ${SSE_VALUES.join(' or ')}, got ${a.s3Sse}`);
  need(a.s3KmsKeyId === undefined || a.s3Sse === 'aws:kms', '--s3-kms-key-id needs --s3-sse aws:kms');
  int(a.s3PartSize, 's3-part-size', MIN_PART_MIB, MAX_PART_MIB);

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
  num(a.leaseSeconds, 'lease-seconds', 1);
  num(a.progressInterval, 'progress-interval', 0, true);
  need(LOG_LEVELS.has(a.logLevel), `--log-level expects one of ${[...LOG_LEVELS].join(', ')}, got ${a.logLevel}`);
  need(a.userIdColumn !== '' && a.deviceIdColumn !== '', 'the id column names must not be empty');

  let apiUrl: URL | undefined;
  try {
    apiUrl = new URL(a.apiUrl);
    need(apiUrl.protocol === 'https:' || apiUrl.protocol === 'http:', `--api-url must be http(s), got ${a.apiUrl}`);
  } catch {
    problems.push(`--api-url is not a URL: ${a.apiUrl}`);
  }

  const esp = parseEspOptions(a, { format, output: outputPath, recIds, ampProps: a.ampProps, computations: a.computations, compIds: splitList(a.compId) }, problems);

  if (problems.length > 0 || !apiUrl) throw usageError(problems.join('; '));

  const output = parseLocation(outputPath);
  const base = output.kind === 'file' ? output.path : output.kind === 's3' ? output.url : resolve('amp-profile-export');
  const place = (p: string) => (isS3Url(p) ? p : resolve(p));
  return {
    input: parseLocation(a.input!),
    output,
    format,
    errorsPath: a.errors ? place(fillPath(a.errors, now, shard)) : `${base}.errors.csv`,
    checkpointPath: output.kind === 'stdio' ? null : a.checkpoint ? place(fillPath(a.checkpoint, now, shard)) : `${base}.checkpoint.json`,
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
    progress: a.progress,
    progressIntervalMs: Math.round(a.progressInterval * 1000),
    dryRun: a.dryRun,
    summaryPath: a.summary ? resolve(fillPath(a.summary, now, shard)) : null,
    metricsPath: a.metricsFile ? resolve(fillPath(a.metricsFile, now, shard)) : null,
    metricsPush,
    redisUrl: a.redisUrl,
    limiterId: a.limiterId,
    shard,
    s3: { pathStyle: a.s3PathStyle, sse: a.s3Sse as Sse | undefined, kmsKeyId: a.s3KmsKeyId, partSize: a.s3PartSize * MIB },
    esp,
    leaseSeconds: a.leaseSeconds,
    takeOverLease: a.takeOverLease,
    state: statePath
      ? { path: place(statePath), delta: a.delta, removedPath: removedPath ? place(removedPath) : null, reset: a.resetState, ...refresh }
      : null,
  };
}

const fmt = (v: unknown) => (typeof v === 'number' && Number.isNaN(v) ? 'something that is not a number' : String(v));

/**
 * --refresh-budget and --max-age (README "Audiences larger than the quota"): both plan the
 * night by reading the input once before the first request, so stdin cannot carry them.
 */
function refreshOptions(a: ExportArgs, shards: number, problems: string[]): { budget: number | null; maxAgeMs: number | null } {
  let budget: number | null = null;
  let maxAgeMs: number | null = null;
  const planned = a.refreshBudget !== undefined || a.maxAge !== undefined;
  if (planned && a.input === '-') problems.push(`--${a.refreshBudget !== undefined ? 'refresh-budget' : 'max-age'} plans the night from the whole input before the first request: it needs an input that can be read twice (a file or s3://), not stdin`);
  if (a.refreshBudget !== undefined) {
    const b = parseBudget(String(a.refreshBudget));
    if (typeof b === 'string') problems.push(`--refresh-budget ${b}`);
    else {
      budget = budgetRequests(b, { limit: a.rateLimit, intervalMs: a.rateInterval * 1000 }, shards);
      if (budget === null) problems.push(`--refresh-budget ${a.refreshBudget}: a duration needs a rate limit to turn into requests (--rate-limit is 0); give a number of requests`);
      else if (budget < 1) problems.push(`--refresh-budget ${a.refreshBudget}: less than one request at --rate-limit ${a.rateLimit} per ${a.rateInterval} s${shards > 1 ? ` shared by ${shards} shards` : ''}`);
    }
  }
  if (a.maxAge !== undefined) {
    const ms = parseDuration(String(a.maxAge));
    if (ms === undefined) problems.push(`--max-age expects a duration (12h, 3d), got ${a.maxAge}`);
    else maxAgeMs = ms;
  }
  return { budget, maxAgeMs };
}
