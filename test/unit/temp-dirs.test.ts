import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { runTempDir, sweepDeadTempDirs } from '../../src/temp-dirs.js';
import { ROOT, tempDir } from '../support/cli.js';

/**
 * A real process makes its directory and is SIGKILLed: the kernel drops its lock, and the next
 * run's sweep removes what it left; a live run's directory is never touched.
 */
async function killedRunDir(root: string, kind: string): Promise<string> {
  const script = `const m = await import(${JSON.stringify(join(ROOT, 'src/temp-dirs.ts'))});
    const d = await m.runTempDir(${JSON.stringify(kind)}, ${JSON.stringify(root)});
    (await import('node:fs')).writeFileSync(d.path + '/state.sqlite', 'x'.repeat(4096));
    console.log(d.path);
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the child exited with ${code} before making its directory`)));
  });
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
  return line.trim();
}

describe('temporary directories of killed runs', () => {
  it('a SIGKILLed run’s directory is removed by the next sweep; a live run’s and foreign ones stay', async () => {
    const root = tempDir('sweep-');
    const dead = await killedRunDir(root, 'state');
    expect(existsSync(join(dead, 'state.sqlite'))).toBe(true);
    const live = await runTempDir('staging', root);
    // Not this tool's, or an older release's: no lock file inside.
    mkdirSync(join(root, 'ape-state-older'));
    writeFileSync(join(root, 'ape-state-older', 'state.sqlite'), 'kept');
    mkdirSync(join(root, 'other'));

    const removed = await sweepDeadTempDirs(root);
    expect(removed).toEqual([dead.split('/').pop()]);
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(live.path)).toBe(true);
    expect(readdirSync(root).sort()).toEqual([live.path.split('/').pop(), 'ape-state-older', 'other'].sort());

    // Swept again: nothing more goes while the live run holds its directory.
    expect(await sweepDeadTempDirs(root)).toEqual([]);
    await live.remove();
    await live.remove();
    expect(existsSync(live.path)).toBe(false);
  }, 30_000);

  it('a directory still being made (its `.ape-new-` name) is left alone while young, swept once old and unlocked', async () => {
    const root = tempDir('sweep-new-');
    const made = join(root, '.ape-new-abc123');
    mkdirSync(made);
    writeFileSync(join(made, '.lock'), '');
    expect(await sweepDeadTempDirs(root)).toEqual([]);
    const hourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(made, hourAgo, hourAgo);
    expect(await sweepDeadTempDirs(root)).toEqual(['.ape-new-abc123']);
    expect(existsSync(made)).toBe(false);
  });
});
