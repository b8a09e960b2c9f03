import type { ExportConfig } from '../config.js';
import type { Logger } from '../log.js';
import { type OutputLayout, screened } from '../output/layout.js';
import { isoSecond } from '../output/fetched-at.js';
import { inShard } from '../pipeline/shard.js';
import { openCsvSource, type UserRow } from '../sources/csv.js';
import type { OpenedInput } from '../sources/open.js';
import type { RefreshPlan } from '../state/refresh.js';
import type { StateSession } from '../state/session.js';
import { columnsUsed } from './columns.js';

/**
 * The users a night plans over: the whole input read once from the start, as the run reads it
 * (the same columns, the same rows a preset refuses, this process's shard), before any request.
 */
export async function* plannedUsers(cfg: ExportConfig, input: Pick<OpenedInput, 'stream' | 'name'>, layout: OutputLayout): AsyncGenerator<UserRow[]> {
  const source = await openCsvSource(input.stream(0), {
    userIdColumn: cfg.userIdColumn,
    deviceIdColumn: cfg.deviceIdColumn,
    name: input.name,
    columns: columnsUsed(cfg),
  });
  for await (const batch of screened(source.batches, layout.screen)) {
    const users = batch.filter((item): item is UserRow => item.kind === 'user' && (cfg.shard.count === 1 || inShard(item, cfg.shard)));
    if (users.length > 0) yield users;
  }
}

/**
 * --refresh-budget/--max-age: tonight's plan, logged; undefined when the run is not planned.
 * A stop signal while it is made: PlanStopped.
 */
export async function planNight(cfg: ExportConfig, state: StateSession | null, input: Pick<OpenedInput, 'stream' | 'name'>, layout: OutputLayout, log: Logger, stop: AbortSignal): Promise<RefreshPlan | undefined> {
  if (!state?.planned) return undefined;
  const started = performance.now();
  // About 8 s a million users before the first request: said, so that a quiet terminal is not taken for a hang.
  log.info({ input: input.name }, "planning tonight's refresh: reading the whole input and the state before the first request");
  const plan = await state.planNight(plannedUsers(cfg, input, layout), stop);
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
