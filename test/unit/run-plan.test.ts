import { describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../src/checkpoint/state.js';
import { planRun } from '../../src/wiring/run-plan.js';

const cp = (done: boolean) => ({ done, counts: { users: 3 } }) as unknown as Checkpoint;
const stateRun = { kind: 'run' as const, run: 'r2', base: 'r1', resume: false, at: 1 };

describe('planRun: what a run does, from the checkpoint\'s plan and the state\'s', () => {
  it('a finished job does nothing, or finishes the state update a kill interrupted', () => {
    const done = cp(true);
    expect(planRun({ kind: 'complete', from: done }, done, null)).toEqual({ kind: 'nothing', from: done });
    expect(planRun({ kind: 'complete', from: done }, done, { kind: 'done' })).toEqual({ kind: 'nothing', from: done });
    expect(planRun({ kind: 'complete', from: done }, done, { kind: 'finish', run: 'r2' })).toEqual({ kind: 'finish-state', from: done });
  });

  it('an unfinished job resumes from its checkpoint and discards nothing', () => {
    const open = cp(false);
    expect(planRun({ kind: 'resume', from: open }, open, { ...stateRun, resume: true })).toEqual({ kind: 'export', resume: open, discard: undefined, note: undefined });
  });

  it('a fresh start discards the checkpoint it found (its S3 uploads), saying why', () => {
    const old = cp(false);
    expect(planRun({ kind: 'fresh', note: '--fresh: discarding checkpoint x' }, old, stateRun)).toEqual({ kind: 'export', resume: undefined, discard: old, note: '--fresh: discarding checkpoint x' });
    expect(planRun({ kind: 'fresh' }, undefined, null)).toEqual({ kind: 'export', resume: undefined, discard: undefined, note: undefined });
  });
});
