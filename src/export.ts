import { ProfileClient } from './api/client.js';
import { s3For } from './aws/s3client.js';
import { claimRun } from './claim/claim.js';
import { openCheckpointStore } from './checkpoint/store.js';
import { type Checkpoint, CHECKPOINT_VERSION } from './checkpoint/state.js';
import { planStart } from './checkpoint/plan.js';
import { checkRunFiles } from './preflight/check.js';
import { type ExportConfig, locationName } from './config.js';
import { describe, ExitCode, ExitError, outputError, StoppedEarly } from './errors.js';
import { backoffFromEnv, sleep } from './api/retry.js';
import { checkedRoute } from './net/preflight.js';
import type { Logger } from './log.js';
import { outputLayout, screened } from './output/layout.js';
import { type Counts, type RequestCounts, zeroCounts, zeroRequests } from './pipeline/counters.js';
import { makeFetchUser } from './pipeline/fetch.js';
import { Health } from './pipeline/health.js';
import { createLimiter } from './pipeline/limiter.js';
import { type RunEnd, runPipeline } from './pipeline/run.js';
import { inShard } from './pipeline/shard.js';
import { OrderedWriter, type Position } from './pipeline/writer.js';
import type { StartProgress } from './progress/probe.js';
import { fingerprint } from './wiring/job.js';
import { discardUploads, finishUploads, openErrors, openOutput } from './wiring/sinks.js';
import type { S3SinkState } from './sinks/s3.js';
import { columnsUsed } from './wiring/columns.js';
import { openCsvSource } from './sources/csv.js';
import { openInput } from './sources/open.js';
import { removedLayout } from './state/removed.js';
import { PlanStopped, plannedFetch, type RefreshPlan, settledBy } from './state/refresh.js';
import { storedRows } from './output/fetched-at.js';
import { planNight, plannedUsers } from './wiring/night.js';
import { planRun } from './wiring/run-plan.js';
import { checkResumeWithoutState } from './state/plan.js';
import type { StateSession } from './state/session.js';

export interface ExportEnv {
  secretKey: string;
  log: Logger;
  /** Graceful and hard stop, set by cli.ts on the first and second signal. */
  stop: AbortSignal;
  hardStop: AbortSignal;
  stdout?: NodeJS.WritableStream;
  /** Progress reporting (cli.ts: status line or JSON lines); reads counters on a timer. */
  progress?: StartProgress | undefined;
}

export interface ExportResult {
  exitCode: ExitCode;
  /** Set when the run ended on a fatal error; cli.ts prints its one line. */
  error?: ExitError | Error;
  ended: 'complete' | 'already_complete' | 'stopped' | 'fatal';
  counts: Counts;
  requests: RequestCounts;
  durationMs: number;
  outputBytes: number;
  /** Bytes in the errors file (0 when there is none). */
  errorsBytes?: number;
}

/** How often the checkpoint is written while work completes (guarantee 2: ~1 s of work). */
export const CHECKPOINT_INTERVAL_MS = 1000;

export async function runExport(cfg: ExportConfig, env: ExportEnv): Promise<ExportResult> {
  const started = performance.now();
  const log = env.log;
  // Before any file is opened for writing: distinct locations, each writable (exit 2).
  await checkRunFiles(cfg);
  // Before anything is read or written: a proxy that is down or refuses us is exit 2 now.
  const apiProxy = await checkedRoute(cfg.apiUrl, 'Profile API', log);
  const s3 = await s3For(cfg);
  const input = await openInput(cfg.input, process.stdin, s3);
  // One run per job, one run per written file (README "Operating it"): a refusal comes before
  // any file is written or request sent; held until the process exits (cli.ts releases it).
  const claim = await claimRun(cfg, { s3, log });
  const resumable = cfg.checkpointPath !== null && input.identity !== null;
  if (cfg.output.kind === 'stdio') log.warn('output to stdout cannot be resumed: running without a checkpoint');
  else if (!input.identity) log.warn('input from stdin cannot be resumed: running without a checkpoint');

  const outputName = locationName(cfg.output);
  const job = input.identity ? fingerprint(cfg, input.identity, outputName) : null;
  const store = resumable ? await openCheckpointStore(cfg.checkpointPath!, s3) : null;
  // --fresh discards whatever is there, a corrupt checkpoint included.
  const saved = store ? await store.load().catch((err: unknown) => (cfg.fresh ? undefined : Promise.reject(err))) : undefined;
  const plan = store && job ? planStart(saved, job, cfg.fresh, store.path) : { kind: 'fresh' as const };
  // Before anything is written: a state that cannot be used is exit 2 with nothing touched.
  if (!cfg.state) checkResumeWithoutState(plan);
  // SQLite's native module only when asked, as ioredis for the shared limiter.
  let state: StateSession | null;
  try {
    state = cfg.state ? await (await import('./state/session.js')).StateSession.open(cfg, s3, plan, log, env.stop) : null;
  } catch (err) {
    if (err instanceof StoppedEarly) return stoppedEarly(err, plan.kind === 'fresh' ? undefined : plan.from, started, log);
    throw err;
  }
  try {
    return await runWithState(cfg, env, { started, s3, input, store, saved, plan, job, state, claim, apiProxy });
  } finally {
    await state?.close();
  }
}

/** What runExport opened and decided before the run proper: input, checkpoint, its plan, the state. */
interface Opened {
  started: number;
  s3: Awaited<ReturnType<typeof s3For>>;
  input: Awaited<ReturnType<typeof openInput>>;
  store: Awaited<ReturnType<typeof openCheckpointStore>> | null;
  saved: Checkpoint | undefined;
  plan: ReturnType<typeof planStart>;
  job: ReturnType<typeof fingerprint> | null;
  state: StateSession | null;
  claim: Awaited<ReturnType<typeof claimRun>>;
  apiProxy: Awaited<ReturnType<typeof checkedRoute>>;
}

async function runWithState(cfg: ExportConfig, env: ExportEnv, { started, s3, input, store, saved, plan, job, state, claim, apiProxy }: Opened): Promise<ExportResult> {
  const log = env.log;
  const requests: RequestCounts = zeroRequests();
  claim.throwIfLost(); // a run paused past its lease since it took it writes nothing from here on

  const run = planRun(plan, saved, state?.plan ?? null);
  if (run.kind !== 'export') {
    const done = run.from;
    await finishUploads(cfg, s3, done);
    if (run.kind === 'finish-state') {
      // Killed during the state update: the staged results are all there; finish it.
      const layout = outputLayout(cfg, done.input.header, input.name);
      try {
        await state!.recallNight(plannedUsers(cfg, input, layout), done.state!, env.stop);
      } catch (err) {
        if (err instanceof StoppedEarly) return stoppedEarly(err, done, started, log);
        throw err;
      }
      const removed = await state!.finish(s3, removedLayout(cfg, layout.rows.header()), cfg.s3.partSize, done.state, log);
      return { exitCode: done.counts.failed > 0 ? ExitCode.partial : ExitCode.ok, ended: 'complete', counts: { ...done.counts, removed }, requests, durationMs: performance.now() - started, outputBytes: done.outputBytes, errorsBytes: done.errorsBytes };
    }
    log.info({ checkpoint: store!.path, ...done.counts }, 'this job already completed; nothing to do (use --fresh to run it again)');
    return { exitCode: ExitCode.ok, ended: 'already_complete', counts: done.counts, requests, durationMs: 0, outputBytes: done.outputBytes, errorsBytes: done.errorsBytes };
  }
  if (run.note) log.info(run.note);
  if (run.discard) await discardUploads(s3, run.discard);
  const from = run.resume;
  // Before any file is created: an unreachable Redis is exit 2 with nothing touched.
  const rate = { limit: cfg.rateLimit, intervalMs: cfg.rateIntervalMs };
  const limiter = cfg.redisUrl && cfg.rateLimit > 0
      ? // ioredis only when asked: ~23 MB of RSS that a single-process run does not need.
        await (await import('./pipeline/redis-limiter.js')).createRedisLimiter({ ...rate, redisUrl: cfg.redisUrl, limiterId: cfg.limiterId, log })
      : createLimiter(rate);

  const source = await openCsvSource(input.stream(from?.input.offset ?? 0), {
    userIdColumn: cfg.userIdColumn,
    deviceIdColumn: cfg.deviceIdColumn,
    name: input.name,
    resume: from && { offset: from.input.offset, linesBefore: from.input.feeds, header: from.input.header, columns: from.input.columns },
    columns: columnsUsed(cfg),
    reopen: input.identity ? input.stream : undefined,
    warn: (fields, msg) => log.warn(fields, msg),
  });
  const layout = outputLayout(cfg, source.header, input.name);
  const rows = layout.rows;
  // --refresh-budget/--max-age: who is asked tonight, decided before the first request, and
  // before any file is created (a plan that fails, a disk too full for it, leaves none).
  let night: RefreshPlan | undefined;
  try {
    night = await planNight(cfg, state, input, layout, log, env.stop);
  } catch (err) {
    await limiter.stop();
    if (err instanceof StoppedEarly) return stoppedEarly(err, from, started, log);
    throw err;
  }
  const out = await openOutput(cfg, s3, from, env.stdout, rows.header());
  const errors = await openErrors(cfg, s3, from);
  const writer = from
    ? new OrderedWriter(out, errors, rows, { offset: from.input.offset, feeds: from.input.feeds, line: from.input.line, counts: from.counts })
    : OrderedWriter.fresh(out, errors, rows, source.headerEnd, source.headerFeeds);
  if (state) writer.track(await state.tracker(s3, cfg.s3.partSize, from?.state), storedRows(cfg.format));
  const staging = state?.stagingSink;
  if (from) log.info({ checkpoint: store!.path, line: from.input.line, users: from.counts.users }, 'resuming from checkpoint');

  const client = new ProfileClient({ apiUrl: cfg.apiUrl, secretKey: env.secretKey, query: cfg.query, connections: cfg.concurrency, timeoutMs: cfg.timeoutMs, proxy: apiProxy });
  const requestsBefore = from?.requests ?? 0;
  // The budget is the job's: requests of the runs this one resumes count against it.
  const budget = cfg.state?.budget ?? null;
  const underBudget = budget === null ? undefined : () => requestsBefore + requests.requests < budget;
  const asked = makeFetchUser({ attempt: (u, s) => client.attempt(u, s), limiter, query: cfg.query, maxRetries: cfg.maxRetries, backoff: backoffFromEnv(), counts: requests, log, health: new Health(), budget: underBudget });
  const fetchUser = night ? plannedFetch(night, asked) : asked;

  const checkpoint = (pos: Position, done: boolean, outputState: S3SinkState | void, errorsState: S3SinkState | void, stateAt: { bytes: number; st: S3SinkState | void } | null): Checkpoint => ({
    version: CHECKPOINT_VERSION,
    job: job!,
    done,
    input: { offset: pos.offset, feeds: pos.feeds, line: pos.line, header: source.header, ...(source.columns ? { columns: source.columns } : {}) },
    outputBytes: pos.outputBytes,
    errorsBytes: pos.errorsBytes,
    counts: pos.counts,
    requests: requestsBefore + requests.requests,
    updatedAt: new Date().toISOString(),
    ...(outputState ? { outputState } : {}),
    ...(pos.outputPart ? { outputPart: pos.outputPart } : {}),
    ...(errorsState ? { errorsState } : {}),
    ...(state && stateAt ? { state: state.checkpointPart(stateAt.bytes, stateAt.st) } : {}),
  });
  // A checkpoint only ever names bytes already on disk: take the position, make the sinks
  // durable (fsync), then write the checkpoint that points at them. position() and sync()
  // run in the same tick: an S3 sink's state matches the position's byte counts exactly.
  // A failed commit does not stop the later ones (a transient S3 error must not end checkpointing).
  let committing: Promise<void> = Promise.resolve();
  let lastSaved = -1;
  /** What the last saved checkpoint names: what a run that fails now has delivered for sure. */
  let committed: Pick<Position, 'counts' | 'outputBytes' | 'errorsBytes'> | undefined = from;
  const commit = (done = false) => {
    committing = committing.catch(() => undefined).then(async () => {
      claim.throwIfLost();
      const pos = writer.position();
      if (!done && pos.line === lastSaved) return;
      const stagingBytes = staging?.bytes ?? 0;
      const [outputState, errorsState, stagingState] = await Promise.all([out.sync(), errors.sync(), staging?.sync()]).catch((err: unknown) => {
        if (err instanceof ExitError && err.code === 'storage') writer.fail(err);
        throw err;
      });
      if (store) {
        claim.throwIfLost();
        await store.save(checkpoint(pos, done, outputState, errorsState, staging ? { bytes: stagingBytes, st: stagingState } : null));
        committed = { counts: structuredClone(pos.counts), outputBytes: pos.outputBytes, errorsBytes: pos.errorsBytes };
        out.checkpointed?.();
        errors.checkpointed?.();
        staging?.checkpointed?.();
      }
      lastSaved = pos.line;
    });
    return committing;
  };
  // The first checkpoint, before any request: a location that cannot be written is exit 2 now,
  // not a surprise at the first tick.
  if (store && !from) {
    await commit().catch((err: unknown) => {
      throw err instanceof ExitError ? err : outputError(`cannot write the checkpoint ${store.path}: ${describe(err)}`);
    });
  }
  const timer = store ? setInterval(() => void commit().catch((err) => log.error({ err: String(err) }, 'checkpoint write failed')), CHECKPOINT_INTERVAL_MS) : undefined;
  const stopProgress = env.progress?.({
    position: () => writer.position(),
    requests,
    share: () => limiter.share,
    inputBytes: input.identity?.size ?? null,
    rate: { limit: cfg.rateLimit, intervalMs: cfg.rateIntervalMs },
  });

  let end: RunEnd;
  try {
    end = await runPipeline({
      batches: screened(source.batches, layout.screen),
      fetchUser,
      writer,
      concurrency: cfg.concurrency,
      stop: AbortSignal.any([env.stop, claim.lost]),
      hardStop: AbortSignal.any([env.hardStop, claim.lost]),
      graceMs: cfg.graceMs,
      skipThroughLine: from?.input.line,
      keep: cfg.shard.count > 1 ? (item) => inShard(item, cfg.shard) : undefined,
      settled: night ? settledBy(night) : undefined,
    });
  } finally {
    stopProgress?.();
    clearInterval(timer);
    await limiter.stop();
    await client.close();
  }
  // A local input changed while the run read it: exit 2 like an S3 input replaced mid-run, and
  // the checkpoint stays unfinished, so a rerun asks for --fresh (README, Input).
  if (end.ended === 'complete') end = await input.unchanged().then(() => end, (error: Error) => ({ ended: 'fatal' as const, error }));
  // A sink that failed mid-run (disk full) fails the final commit too: the last saved
  // checkpoint stands, and the run reports the pipeline's error, which names the file.
  let endError: Error | undefined = end.ended === 'fatal' ? end.error : undefined;
  try {
    claim.throwIfLost();
    await finalCommit(() => commit(end.ended === 'complete'), log, endError ? [] : undefined);
    // A run that stopped early leaves its S3 upload open for the resume: no partial object.
    await Promise.all([out.close(end.ended === 'complete'), errors.close(end.ended === 'complete'), staging?.close(end.ended === 'complete')]);
  } catch (err) {
    endError ??= err as Error;
  }

  // Counts as committed: a store's last saved checkpoint (all of it when the final commit
  // succeeded); without a checkpoint (stdout), what was handed to the sink.
  const pos = store && committed ? committed : writer.position();
  // The state moves on only when the run completed (exit 0 or 4); users that failed keep their entry.
  if (state && !endError && end.ended === 'complete') {
    try {
      pos.counts.removed = await state.finish(s3, removedLayout(cfg, rows.header()), cfg.s3.partSize, undefined, log);
    } catch (err) {
      endError = err as Error;
    }
  }
  const result: ExportResult = {
    exitCode: ExitCode.ok,
    ended: endError ? 'fatal' : end.ended,
    counts: pos.counts,
    requests,
    durationMs: performance.now() - started,
    outputBytes: pos.outputBytes,
    errorsBytes: pos.errorsBytes,
  };
  if (endError) {
    result.error = endError;
    result.exitCode = endError instanceof ExitError ? endError.exitCode : ExitCode.failure;
  } else if (end.ended === 'stopped') {
    result.exitCode = ExitCode.sigterm;
  } else if (pos.counts.failed > 0) {
    result.exitCode = ExitCode.partial;
  }
  return result;
}

/**
 * A stop signal before the first request (the state fetched, the night planned): logged, and
 * the run ends with nothing requested and no file opened; the counts are the checkpoint's it
 * would have resumed, as they were.
 */
function stoppedEarly(err: StoppedEarly, had: Pick<Checkpoint, 'counts' | 'outputBytes' | 'errorsBytes'> | undefined, started: number, log: Logger): ExportResult {
  log.warn(err instanceof PlanStopped ? { usersRead: err.usersRead } : {}, `${err.message}: nothing was requested or written`);
  return { exitCode: ExitCode.sigterm, ended: 'stopped', counts: had?.counts ?? zeroCounts(), requests: zeroRequests(), durationMs: performance.now() - started, outputBytes: had?.outputBytes ?? 0, errorsBytes: had?.errorsBytes ?? 0 };
}

/**
 * The last checkpoint, retried: a storage hiccup (an S3 connection reset, measured against the
 * local S3 server under load) must not turn a finished export into exit 1. If it keeps failing,
 * the last good checkpoint still stands: exit 5, and the rerun resumes from it.
 */
export async function finalCommit(commit: () => Promise<void>, log: Logger, waits = [1000, 2000, 4000]): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await commit();
    } catch (err) {
      if (attempt >= waits.length) {
        throw new ExitError('unavailable', `writing the final checkpoint failed ${attempt + 1} times (${describe(err)}); rerun the same command to resume from the last one`);
      }
      log.warn({ err: describe(err), attempt: attempt + 1 }, 'final checkpoint write failed; retrying');
      await sleep(waits[attempt]!);
    }
  }
}
