import { ProfileClient } from './api/client.js';
import { CheckpointFile } from './checkpoint/store.js';
import { type Checkpoint, CHECKPOINT_VERSION, fingerprint } from './checkpoint/state.js';
import { planStart } from './checkpoint/plan.js';
import type { ExportConfig } from './config.js';
import { ExitCode, type ExitError } from './errors.js';
import type { Logger } from './log.js';
import { CsvRows } from './output/csv.js';
import { errorsHeader } from './output/errors.js';
import { JsonlRows } from './output/jsonl.js';
import { type Counts, type RequestCounts, zeroRequests } from './pipeline/counters.js';
import { makeFetchUser } from './pipeline/fetch.js';
import { Health } from './pipeline/health.js';
import { createLimiter } from './pipeline/limiter.js';
import { runPipeline } from './pipeline/run.js';
import { OrderedWriter, type Position } from './pipeline/writer.js';
import { FileSink } from './sinks/file.js';
import { LazyFileSink } from './sinks/lazy.js';
import type { Sink } from './sinks/sink.js';
import { StreamSink } from './sinks/stdout.js';
import { openCsvSource } from './sources/csv.js';
import { openInput } from './sources/open.js';

export interface ExportEnv {
  secretKey: string;
  log: Logger;
  /** Graceful and hard stop, set by cli.ts on the first and second signal. */
  stop: AbortSignal;
  hardStop: AbortSignal;
  stdout?: NodeJS.WritableStream;
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
}

/** How often the checkpoint is written while work completes (guarantee 2: ~1 s of work). */
export const CHECKPOINT_INTERVAL_MS = 1000;

export async function runExport(cfg: ExportConfig, env: ExportEnv): Promise<ExportResult> {
  const started = performance.now();
  const log = env.log;
  const input = await openInput(cfg.input);
  const resumable = cfg.checkpointPath !== null && input.identity !== null;
  if (cfg.output.kind === 'stdio') log.warn('output to stdout cannot be resumed: running without a checkpoint');
  else if (!input.identity) log.warn('input from stdin cannot be resumed: running without a checkpoint');

  const outputName = cfg.output.kind === 'file' ? cfg.output.path : '-';
  const job = input.identity ? fingerprint(cfg, input.identity, outputName) : null;
  const store = resumable ? new CheckpointFile(cfg.checkpointPath!) : null;
  // --fresh discards whatever is there, a corrupt checkpoint included.
  const saved = store ? await store.load().catch((err: unknown) => (cfg.fresh ? undefined : Promise.reject(err))) : undefined;
  const plan = store && job ? planStart(saved, job, cfg.fresh, store.path) : { kind: 'fresh' as const };
  const requests: RequestCounts = zeroRequests();

  if (plan.kind === 'complete') {
    log.info({ checkpoint: store!.path, ...plan.from.counts }, 'this job already completed; nothing to do (use --fresh to run it again)');
    return { exitCode: ExitCode.ok, ended: 'already_complete', counts: plan.from.counts, requests, durationMs: 0, outputBytes: plan.from.outputBytes };
  }
  if (plan.kind === 'fresh' && plan.note) log.info(plan.note);
  const from = plan.kind === 'resume' ? plan.from : undefined;

  const source = await openCsvSource(input.stream(from?.input.offset ?? 0), {
    userIdColumn: cfg.userIdColumn,
    deviceIdColumn: cfg.deviceIdColumn,
    name: input.name,
    resume: from && { offset: from.input.offset, linesBefore: from.input.feeds, header: from.input.header },
  });
  const rows = cfg.format === 'csv' ? new CsvRows({ query: cfg.query, maxItems: cfg.maxItems ?? 10, escapeFormulas: cfg.escapeFormulas }) : new JsonlRows(cfg.maxItems);
  const out: Sink = cfg.output.kind === 'file' ? await FileSink.open(cfg.output.path, from?.outputBytes) : new StreamSink(env.stdout as never);
  const errors = await LazyFileSink.open(cfg.errorsPath, errorsHeader(), from?.errorsBytes ?? 0);
  const writer = from
    ? new OrderedWriter(out, errors, rows, { offset: from.input.offset, feeds: from.input.feeds, line: from.input.line, counts: from.counts })
    : OrderedWriter.fresh(out, errors, rows, source.headerEnd, source.headerFeeds);
  if (from) log.info({ checkpoint: store!.path, line: from.input.line, users: from.counts.users }, 'resuming from checkpoint');

  const client = new ProfileClient({ apiUrl: cfg.apiUrl, secretKey: env.secretKey, query: cfg.query, connections: cfg.concurrency, timeoutMs: cfg.timeoutMs });
  const limiter = createLimiter({ limit: cfg.rateLimit, intervalMs: cfg.rateIntervalMs });
  const fetchUser = makeFetchUser({ attempt: (u, s) => client.attempt(u, s), limiter, query: cfg.query, maxRetries: cfg.maxRetries, counts: requests, log, health: new Health() });

  const requestsBefore = from?.requests ?? 0;
  const checkpoint = (pos: Position, done: boolean): Checkpoint => ({
    version: CHECKPOINT_VERSION,
    job: job!,
    done,
    input: { offset: pos.offset, feeds: pos.feeds, line: pos.line, header: source.header },
    outputBytes: pos.outputBytes,
    errorsBytes: pos.errorsBytes,
    counts: pos.counts,
    requests: requestsBefore + requests.requests,
    updatedAt: new Date().toISOString(),
  });
  // A checkpoint only ever names bytes already on disk: take the position, make the sinks
  // durable (fsync), then write the checkpoint that points at them.
  let committing: Promise<void> = Promise.resolve();
  let lastSaved = -1;
  const commit = (done = false) => {
    committing = committing.then(async () => {
      const pos = writer.position();
      if (!done && pos.line === lastSaved) return;
      await Promise.all([out.sync(), errors.sync()]);
      if (store) await store.save(checkpoint(pos, done));
      lastSaved = pos.line;
    });
    return committing;
  };
  if (store && !from) await commit();
  const timer = store ? setInterval(() => void commit().catch((err) => log.error({ err: String(err) }, 'checkpoint write failed')), CHECKPOINT_INTERVAL_MS) : undefined;

  let end;
  try {
    end = await runPipeline({
      rows: source.rows,
      fetchUser,
      writer,
      concurrency: cfg.concurrency,
      stop: env.stop,
      hardStop: env.hardStop,
      graceMs: cfg.graceMs,
      skipThroughLine: from?.input.line,
    });
  } finally {
    clearInterval(timer);
    await limiter.stop();
    await client.close();
  }
  await commit(end.ended === 'complete');
  await Promise.all([out.close(), errors.close()]);

  const pos = writer.position();
  const counts = pos.counts;
  const result: ExportResult = {
    exitCode: ExitCode.ok,
    ended: end.ended,
    counts,
    requests,
    durationMs: performance.now() - started,
    outputBytes: pos.outputBytes,
  };
  if (end.ended === 'fatal') {
    result.error = end.error;
    result.exitCode = 'exitCode' in end.error ? (end.error as ExitError).exitCode : ExitCode.failure;
  } else if (end.ended === 'stopped') {
    result.exitCode = ExitCode.sigterm;
  } else if (counts.failed > 0) {
    result.exitCode = ExitCode.partial;
  }
  return result;
}
