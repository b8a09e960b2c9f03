/**
 * `--dry-run`: everything a real run checks before its first request, then the whole input
 * read and counted, with no request sent and no file created (output, errors, checkpoint,
 * summary or metrics). It answers "will tonight's run start, and will it finish by morning?".
 */
import { s3For } from './aws/s3client.js';
import { checkedRoute } from './net/preflight.js';
import { isS3Url } from './aws/s3url.js';
import { startPlanFor } from './wiring/checkpoint-start.js';
import { type ExportConfig, locationName } from './config.js';
import { estimateDuration } from './dryrun/estimate.js';
import { SeenIds } from './dryrun/seen-ids.js';
import { ExitCode } from './errors.js';
import type { Logger } from './log.js';
import { inShard } from './pipeline/shard.js';
import { formatDuration } from './progress/format.js';
import { checkRunFiles } from './preflight/check.js';
import { columnsUsed } from './wiring/columns.js';
import { oneByOne, openCsvSource } from './sources/csv.js';
import { outputLayout, screened } from './output/layout.js';
import { openInput } from './sources/open.js';
import type { NightReport } from './dryrun/night.js';
import { isoSecond } from './output/fetched-at.js';

export interface DryRunEnv {
  log: Logger;
  /** Where the human-readable report goes (stdout). */
  out: NodeJS.WritableStream;
  /** Where the secret key was found, in words (never the key). */
  secretFrom: string;
}

/** Examples of unreadable rows and duplicates listed: enough to recognise the pattern. */
const EXAMPLES = 5;

export interface DryRunReport {
  /** Input rows with an id in this shard: the requests a run sends (duplicates included). */
  users: number;
  /** Users after the checkpoint's position: what a resumed run still has to do. */
  usersToRun: number;
  /** Requests the run will send: the users to run, or those a planned night refreshes. */
  requests: number;
  unreadable: number;
  unreadableExamples: Array<{ line: number; reason: string }>;
  /** Rows whose id (the one the request carries) came earlier in the input. */
  duplicates: number;
  duplicateExamples: Array<{ line: number; id: string }>;
  inputBytes: number | null;
  checkpoint: string;
  estimatedSeconds: number | null;
  requestsPerSecond: number | null;
  warnings: string[];
  /** --refresh-budget/--max-age: tonight's plan; absent otherwise. */
  night?: NightReport;
}

export async function runDryRun(cfg: ExportConfig, env: DryRunEnv): Promise<number> {
  // The real run's own check (whether an S3 bucket takes writes cannot be known without writing).
  await checkRunFiles(cfg);
  // The proxy is part of tonight's config: one CONNECT, no request to the API.
  await checkedRoute(cfg.apiUrl, 'Profile API', env.log);
  const s3 = await s3For(cfg);
  const input = await openInput(cfg.input, process.stdin, s3);
  const { plan, path: checkpointPath } = await startPlanFor(cfg, input, s3);

  const source = await openCsvSource(input.stream(0), {
    userIdColumn: cfg.userIdColumn,
    deviceIdColumn: cfg.deviceIdColumn,
    name: input.name,
    reopen: input.identity ? input.stream : undefined,
    columns: columnsUsed(cfg),
    warn: (fields, msg) => env.log.warn(fields, msg),
  });
  const doneThrough = plan.kind === 'resume' ? plan.from.input.line : plan.kind === 'complete' ? Infinity : 0;
  const seen = new SeenIds();
  const r: DryRunReport = {
    users: 0,
    usersToRun: 0,
    requests: 0,
    unreadable: 0,
    unreadableExamples: [],
    duplicates: 0,
    duplicateExamples: [],
    inputBytes: input.identity?.size ?? null,
    checkpoint:
      plan.kind === 'resume'
        ? `${checkpointPath}: the run resumes after line ${plan.from.input.line} (${plan.from.counts.users.toLocaleString('en-US')} users done)`
        : plan.kind === 'complete'
          ? `${checkpointPath}: this job already completed; the run does nothing (--fresh runs it again)`
          : checkpointPath
            ? `none usable at ${checkpointPath}: the run starts fresh${plan.note ? ` (${plan.note})` : ''}`
            : 'none (stdin input or stdout output cannot be resumed)',
    estimatedSeconds: null,
    requestsPerSecond: null,
    warnings: [],
  };
  // The same layout as a real run: a missing passthrough or email column is exit 2 here too,
  // and rows a preset cannot import are counted as unreadable, as the run will write them.
  const layout = outputLayout(cfg, source.header, input.name);
  for await (const item of oneByOne(screened(source.batches, layout.screen))) {
    if (cfg.shard.count > 1 && !inShard(item, cfg.shard)) continue;
    if (item.kind === 'bad') {
      r.unreadable++;
      if (r.unreadableExamples.length < EXAMPLES) r.unreadableExamples.push({ line: item.line, reason: item.reason });
      continue;
    }
    r.users++;
    if (item.line > doneThrough) r.usersToRun++;
    const id = item.user_id || item.device_id;
    if (!seen.add(id, item.user_id ? 'user' : 'device')) {
      r.duplicates++;
      if (r.duplicateExamples.length < EXAMPLES) r.duplicateExamples.push({ line: item.line, id: id.length > 80 ? `${id.slice(0, 79)}…` : id });
    }
  }
  // A planned night: SQLite's native module only then, as in a real run.
  const night = cfg.state && (cfg.state.budget !== null || cfg.state.maxAgeMs !== null) ? await (await import('./dryrun/night.js')).dryRunNight(cfg, input, layout, s3) : null;
  if (night) r.night = night;
  // A planned night asks only the users it refreshes (the budget caps the requests).
  r.requests = night ? Math.min(night.refresh, r.usersToRun) : r.usersToRun;
  const est = estimateDuration(r.requests, { limit: cfg.rateLimit, intervalMs: cfg.rateIntervalMs });
  r.estimatedSeconds = est.seconds;
  r.requestsPerSecond = est.perSecond;
  r.warnings = est.warnings;

  env.out.write(reportText(cfg, r, env.secretFrom, source.header));
  for (const w of r.warnings) env.log.warn({ estimatedSeconds: r.estimatedSeconds, users: r.usersToRun }, w);
  env.log.info({ ...r, idSetBytes: seen.bytes }, 'dry run: no request sent, no file written');
  return ExitCode.ok;
}

const n = (v: number) => v.toLocaleString('en-US');

/** The refresh plan's lines (README "Audiences larger than the quota"). */
function nightLines(p: NightReport, row: (k: string, v: string) => void): void {
  row('refreshed', `${n(p.refresh)} users (${n(p.neverFetched)} never fetched, ${n(p.leastRecent)} least recently fetched)`);
  row('carried', `${n(p.carried)} users, written as the state last stored them`);
  row('not fetched', `${n(p.notFetched)} users (never fetched; status not_fetched tonight, first in line next night)`);
  row('oldest data', p.oldestCarried === null ? 'fetched tonight (nothing carried)' : `fetched ${isoSecond(p.oldestCarried)}`);
  if (p.nightsForAll !== null) row('full refresh', `${p.nightsForAll === 1 ? 'every night' : `every ${n(p.nightsForAll)} nights`} at ${n(p.perNight!)} users a night`);
}

/** The report on stdout: one fact a line, aligned, for a person checking tonight's config. */
export function reportText(cfg: ExportConfig, r: DryRunReport, secretFrom: string, header: string[]): string {
  const lines: string[] = ['amp-profile-export dry run: no request sent, no file written'];
  const row = (k: string, v: string) => lines.push(`  ${k.padEnd(17)}${v}`);
  const idColumns = [cfg.userIdColumn, cfg.deviceIdColumn].filter((c) => header.includes(c));
  row('input', `${cfg.input.kind === 'stdio' ? 'stdin' : locationName(cfg.input)}${r.inputBytes === null ? '' : ` (${n(r.inputBytes)} bytes)`}; id columns: ${idColumns.join(', ')}`);
  row('output', `${cfg.output.kind === 'stdio' ? 'stdout' : locationName(cfg.output)} (${cfg.format}); errors to ${cfg.errorsPath}`);
  if (cfg.shard.count > 1) row('shard', `${cfg.shard.index}/${cfg.shard.count}: only this shard's users are counted`);
  row('secret key', `found (${secretFrom}); not checked against the API, since a dry run sends no request`);
  row('checkpoint', r.checkpoint);
  row('rate limit', cfg.rateLimit > 0 ? `${n(cfg.rateLimit)} per ${cfg.rateIntervalMs / 1000} s (${r.requestsPerSecond} requests/s)` : 'none (--rate-limit 0)');
  row('users', n(r.users) + (r.usersToRun !== r.users ? ` (${n(r.usersToRun)} still to export)` : ''));
  row('unreadable rows', `${n(r.unreadable)}${r.unreadable ? ' (a run writes them to the errors file and goes on)' : ''}`);
  for (const e of r.unreadableExamples) lines.push(`    line ${e.line}: ${e.reason}`);
  if (r.unreadable > r.unreadableExamples.length) lines.push(`    … and ${n(r.unreadable - r.unreadableExamples.length)} more`);
  row('duplicate ids', `${n(r.duplicates)}${r.duplicates ? ' (every row is exported, so each costs a request)' : ''}`);
  for (const d of r.duplicateExamples) lines.push(`    line ${d.line}: ${d.id}`);
  if (r.duplicates > r.duplicateExamples.length) lines.push(`    … and ${n(r.duplicates - r.duplicateExamples.length)} more`);
  row(
    'estimated time',
    r.estimatedSeconds === null
      ? 'unknown: with no rate limit the API and --concurrency decide'
      : `${formatDuration(r.estimatedSeconds)} for ${n(r.requests)} requests at ${r.requestsPerSecond} a second (at least: retries and other callers of the org's budget add to it)`,
  );
  if (r.night) nightLines(r.night, row);
  for (const w of r.warnings) lines.push(`WARNING: ${w}`);
  return `${lines.join('\n')}\n`;
}
