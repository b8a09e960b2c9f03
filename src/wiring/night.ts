import type { ExportConfig } from '../config.js';
import type { Logger } from '../log.js';
import type { OutputLayout } from '../output/layout.js';
import { isoSecond } from '../output/fetched-at.js';
import { inShard } from '../pipeline/shard.js';
import { openCsvSource, type SourceItem, type UserRow } from '../sources/csv.js';
import type { OpenedInput } from '../sources/open.js';
import { PlanStopped, type RefreshPlan } from '../state/refresh.js';
import type { StateSession } from '../state/session.js';
import type { CheckpointState } from '../checkpoint/state.js';
import { columnsUsed } from './columns.js';

/**
 * The users a night plans over: the whole input read once from the start, as the run reads it
 * (the same columns, the same rows a preset refuses, this process's shard), before any request.
 */
export async function* plannedUsers(cfg: ExportConfig, input: Pick<OpenedInput, 'stream' | 'name'>, layout: OutputLayout): AsyncGenerator<UserRow> {
  const source = await openCsvSource(input.stream(0), {
    userIdColumn: cfg.userIdColumn,
    deviceIdColumn: cfg.deviceIdColumn,
    name: input.name,
    columns: columnsUsed(cfg),
  });
  const items: AsyncIterable<SourceItem> = layout.screen ? layout.screen(source.rows) : source.rows;
  for await (const item of items) {
    if (item.kind !== 'user') continue;
    if (cfg.shard.count > 1 && !inShard(item, cfg.shard)) continue;
    yield item;
  }
}

/**
 * --refresh-budget/--max-age: tonight's plan, logged; undefined when the run is not planned.
 * A stop signal while it is made: PlanStopped, logged (nothing was requested or written).
 */
export async function planNight(cfg: ExportConfig, state: StateSession | null, input: Pick<OpenedInput, 'stream' | 'name'>, layout: OutputLayout, log: Logger, stop: AbortSignal): Promise<RefreshPlan | undefined> {
  if (!state?.planned) return undefined;
  const started = performance.now();
  // About 8 s a million users before the first request: said, so that a quiet terminal is not taken for a hang.
  log.info({ input: input.name }, "planning tonight's refresh: reading the whole input and the state before the first request");
  const plan = await state.planNight(plannedUsers(cfg, input, layout), stop).catch(stopLogged(log, started));
  const s = plan.split;
  log.info(
    {
      users: plan.counts.users,
      refresh: s.never + s.stale,
      neverFetched: s.never,
      leastRecent: s.stale,
      carried: s.carried,
      notFetched: s.notFetched,
      budget: cfg.state!.budget,
      oldestCarried: plan.oldestCarried === null ? null : isoSecond(plan.oldestCarried),
      ms: Math.round(performance.now() - started),
    },
    `tonight's plan: refresh ${s.never + s.stale} users (${s.never} never fetched, ${s.stale} least recently fetched), carry ${s.carried}, leave ${s.notFetched} not fetched`,
  );
  return plan;
}

/**
 * A rerun finishing a planned night's state update (killed during it) reads that night's users
 * again first (StateSession.recallNight). A stop signal meanwhile: PlanStopped, logged.
 */
export async function recallNight(cfg: ExportConfig, state: StateSession, input: Pick<OpenedInput, 'stream' | 'name'>, layout: OutputLayout, from: CheckpointState, log: Logger, stop: AbortSignal): Promise<void> {
  await state.recallNight(plannedUsers(cfg, input, layout), from, stop).catch(stopLogged(log, performance.now()));
}

/** Logs a PlanStopped (how far the input was read), then rethrows whatever it was given. */
function stopLogged(log: Logger, started: number) {
  return (err: unknown): never => {
    if (err instanceof PlanStopped) log.warn({ usersRead: err.usersRead, ms: Math.round(performance.now() - started) }, `${err.message}: nothing was requested or written`);
    throw err;
  };
}
