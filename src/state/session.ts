import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { needS3, type S3Access } from '../aws/s3client.js';
import { isS3Url, parseS3Url, type S3Location } from '../aws/s3url.js';
import type { StartPlan } from '../checkpoint/plan.js';
import type { CheckpointState } from '../checkpoint/state.js';
import type { ExportConfig, StateOptions } from '../config.js';
import { describe, ExitError, usageError } from '../errors.js';
import type { Logger } from '../log.js';
import type { S3SinkState } from '../sinks/s3.js';
import type { Sink } from '../sinks/sink.js';
import { applyRun, killPoint } from './apply.js';
import { sqliteWriteError, StateDb } from './db.js';
import { type StateLayout, stateLayout } from './layout.js';
import { planState, type StatePlan } from './plan.js';
import type { RemovedLayout } from './removed.js';
import { writeRemovedFile } from './removed-file.js';
import { checkStaging, openStaging, recoverStaging, removeStaging, stagedLines, stagingPlace, type StagingPlace } from './staging.js';
import { StateTracker } from './tracker.js';
import { planRefresh, type RefreshPlan } from './refresh.js';
import { plannedUsers } from '../budget.js';
import { type RunTempDir, runTempDir, sweepDeadTempDirs } from '../temp-dirs.js';

/** A local --removed file's directory must be writable: found out now, not after the whole run. */
async function checkRemovedWritable(target: string | null): Promise<void> {
  if (target === null || isS3Url(target)) return;
  try {
    await mkdir(dirname(target), { recursive: true });
    await access(dirname(target), constants.W_OK);
  } catch (err) {
    throw new ExitError('output', `--removed ${target}: its directory cannot be written (${describe(err)})`);
  }
}

/**
 * A run's state, from start to finish (README "Incremental exports"): opened and locked (an
 * s3:// state fetched to a temporary file) and checked before any request; compared with and
 * staged into during the run; moved on only once the run completes.
 */
export class StateSession {
  private staging: Sink | undefined;
  private night: RefreshPlan | undefined;

  private constructor(
    readonly opts: StateOptions,
    readonly db: StateDb,
    readonly plan: StatePlan,
    private readonly layout: StateLayout,
    private readonly place: StagingPlace,
    private readonly remote: { loc: S3Location; etag: string | null; dir: RunTempDir } | null,
  ) {}

  /** Refused with exit 2 before any request: a state that cannot be used, of another layout, or moved on under a resume. */
  static async open(cfg: ExportConfig, s3: S3Access | undefined, start: StartPlan, log: Logger, stop?: AbortSignal): Promise<StateSession> {
    const opts = cfg.state!;
    // What runs killed on this machine left in its temporary directory (a state copy each).
    const swept = await sweepDeadTempDirs();
    if (swept.length > 0) log.info({ removed: swept }, `removed ${swept.length} temporary director${swept.length === 1 ? 'y' : 'ies'} left by runs that were killed`);
    let remote: { loc: S3Location; etag: string | null; dir: RunTempDir } | null = null;
    let path = opts.path;
    let db: StateDb | undefined;
    try {
      if (isS3Url(opts.path)) {
        const loc = parseS3Url(opts.path);
        if (typeof loc === 'string') throw usageError(`--state ${opts.path}: ${loc}`);
        const dir = await runTempDir('state');
        remote = { loc, etag: null, dir };
        path = join(dir.path, 'state.sqlite');
        // The S3 code (and the AWS SDK) loads only for a state on S3.
        killPoint('state-fetch');
        remote.etag = await (await import('./s3.js')).fetchState(needS3(s3), loc, path, stop);
      }
      await checkRemovedWritable(opts.removedPath);
      db = await StateDb.open(path);
      const layout = stateLayout(cfg);
      if (!opts.reset) db.checkLayout(layout);
      const plan = planState(start, opts, db.meta, randomUUID, opts.path);
      if (plan.kind === 'done' && plan.note) log.warn(plan.note);
      return new StateSession(opts, db, plan, layout, await stagingPlace(cfg.checkpointPath), remote);
    } catch (err) {
      // Refused: nothing of this run stays behind, the state's local copy least of all.
      db?.close();
      await remote?.dir.remove();
      throw err;
    }
  }

  /** The tracker the writer calls for each user, over the staging file (resumed from `from`). */
  async tracker(s3: S3Access | undefined, partSize: number, from: CheckpointState | undefined): Promise<StateTracker> {
    this.staging = await openStaging(this.place, s3, partSize, from);
    // A planned night read the hashes of the users it asks with its plan, in key order.
    const lookup = this.opts.reset
      ? () => undefined
      : (k: string) => {
          const h = this.night?.takeHash(k);
          return h === undefined ? this.db.hashOf(k) : (h ?? undefined);
        };
    if (this.plan.kind !== 'run') throw new Error('no state run in progress');
    return new StateTracker(lookup, this.staging, this.opts.delta, this.plan.at);
  }

  /** --refresh-budget or --max-age: the night is planned before the first request. */
  get planned(): boolean {
    return this.opts.budget !== null || this.opts.maxAgeMs !== null;
  }

  /**
   * Tonight's plan from the input's users and the state (state/refresh.ts). --reset-state plans
   * as if the state were empty: every user is never-fetched.
   */
  async planNight(users: AsyncIterable<Array<{ user_id: string; device_id: string; line: number }>>, stop?: AbortSignal): Promise<RefreshPlan> {
    const p = this.plan;
    if (p.kind !== 'run') throw new Error('no state run in progress');
    const night = await planRefresh(this.db, users, {
      planned: this.opts.budget === null ? null : plannedUsers(this.opts.budget),
      freshAfter: this.opts.maxAgeMs === null ? null : p.at - this.opts.maxAgeMs,
      reset: this.opts.reset,
      stop,
    }).catch((err: unknown) => Promise.reject(sqliteWriteError(err, "planning tonight's refresh", this.db.path)));
    this.night = night;
    return night;
  }

  /**
   * A planned night killed during its state update, finished by a rerun: the users its plan
   * covered (its carried ones were not staged), read again from the input. Only the users
   * count here, not who was refreshed: planned without a budget. The checkpoint says whether
   * the night was planned, whatever this rerun's options.
   */
  async recallNight(users: AsyncIterable<Array<{ user_id: string; device_id: string; line: number }>>, from: CheckpointState, stop?: AbortSignal): Promise<void> {
    if (!from.refresh || this.night) return;
    this.night = await planRefresh(this.db, users, { planned: null, freshAfter: null, reset: this.opts.reset, countOnly: true, stop }).catch((err: unknown) =>
      Promise.reject(sqliteWriteError(err, "reading the night's users again", this.db.path)),
    );
  }

  get stagingSink(): Sink | undefined {
    return this.staging;
  }

  /** The checkpoint's state part for the staging bytes committed with it. */
  checkpointPart(stagingBytes: number, stagingState: S3SinkState | void): CheckpointState {
    const p = this.plan;
    if (p.kind !== 'run') throw new Error('no state run in progress');
    const refresh = this.planned ? { refresh: { budget: this.opts.budget, maxAgeMs: this.opts.maxAgeMs } } : {};
    return { run: p.run, base: p.base, delta: this.opts.delta, reset: this.opts.reset, stagingBytes, at: p.at, ...refresh, ...(stagingState ? { stagingState } : {}) };
  }

  /**
   * The run completed: write the removed users, move the state on in one transaction, put an
   * s3:// state back, drop the staging file. Killed anywhere here, the rerun does it again with
   * the same result (the checkpoint says complete; the state says which run it holds).
   */
  async finish(s3: S3Access | undefined, removed: RemovedLayout, partSize: number, from: CheckpointState | undefined, log: Logger): Promise<number> {
    const p = this.plan;
    if (p.kind === 'done') return 0;
    if (p.kind === 'finish' && from) {
      await recoverStaging(this.place, s3, partSize, from);
      await checkStaging(this.place, s3, from.stagingBytes);
    }
    // A planned night's carried users are in its plan, not in the staging file.
    const planned = from ? from.refresh !== undefined : this.planned;
    if (planned && !this.night) throw new Error('a planned night finished without its plan');
    const started = performance.now();
    const tmp = this.remote?.dir ?? (await runTempDir('removed'));
    try {
      const target = this.opts.removedPath;
      const gone = await applyRun(this.db, {
        run: p.run,
        layout: this.layout,
        reset: this.opts.reset,
        staged: stagedLines(this.place, s3),
        present: planned ? 'temp.night' : undefined,
        leaving: async (users) => {
          if (target) await writeRemovedFile(target, removed, users, s3, tmp.path);
        },
      }).catch((err: unknown) => Promise.reject(sqliteWriteError(err, 'updating the state', this.db.path)));
      this.db.close();
      killPoint('state-put');
      if (this.remote) await (await import('./s3.js')).putState(needS3(s3), this.remote.loc, this.db.path, this.remote.etag);
      await removeStaging(this.place, s3).catch((err: unknown) => log.warn({ err: String(err) }, 'could not remove the staging file'));
      log.info({ state: this.opts.path, removed: gone, removedFile: target, ms: Math.round(performance.now() - started) }, 'state updated');
      return gone;
    } finally {
      if (!this.remote) await tmp.remove();
    }
  }

  async close(): Promise<void> {
    this.db.close();
    await this.remote?.dir.remove();
    // Staged in a directory of its own (no checkpoint): nothing can resume from it.
    if (this.place.kind === 'file') await this.place.temp?.remove();
  }
}
