import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExitError } from '../../src/errors.js';
import type { SplitLimits } from '../../src/output/options.js';
import { partPath, type SplitPart, SplitSink } from '../../src/sinks/split.js';
import { tempDir } from '../support/cli.js';

const HEADER = 'user,rec,item\n';

/** User i: 1 to 3 rows, of varying length (one with a quoted newline: rows are not lines). */
function user(i: number): { text: string; rows: number } {
  const rows = 1 + (i % 3);
  let text = '';
  for (let r = 0; r < rows; r++) text += i % 7 === 0 && r === 0 ? `u${i},r${r},"two\nlines"\n` : `u${i},r${r},${'x'.repeat((i * 13) % 40)}\n`;
  return { text, rows };
}
const USERS = Array.from({ length: 80 }, (_, i) => user(i));

/** The files of a split output, by name. */
function files(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).filter((n) => /^out-\d{5}\.csv$/.test(n)).sort().map((n) => [n, readFileSync(join(dir, n), 'utf8')]));
}

async function uninterrupted(limits: SplitLimits): Promise<Record<string, string>> {
  const dir = tempDir('split-');
  const sink = await SplitSink.create(join(dir, 'out.csv'), HEADER, limits);
  for (const u of USERS) sink.write(u.text, u.rows);
  await sink.close();
  return files(dir);
}

describe('SplitSink', () => {
  it('names files out-00001.csv, ...; a path without extension gets the number at the end', () => {
    expect(partPath('/d/out.csv', 1)).toBe('/d/out-00001.csv');
    expect(partPath('/d/recs-2024-06-10.csv', 12)).toBe('/d/recs-2024-06-10-00012.csv');
    expect(partPath('/d/out', 3)).toBe('/d/out-00003');
  });

  it.each<[string, SplitLimits]>([
    ['rows', { rows: 5, bytes: null }],
    ['bytes', { rows: null, bytes: 300 }],
    ['both', { rows: 7, bytes: 250 }],
  ])('keeps every file within the limit (%s), each with the header, no user across two files', async (_what, limits) => {
    const out = await uninterrupted(limits);
    const names = Object.keys(out);
    expect(names.length).toBeGreaterThan(2);
    let all = '';
    for (const [name, text] of Object.entries(out)) {
      expect(text.startsWith(HEADER), name).toBe(true);
      const body = text.slice(HEADER.length);
      if (limits.bytes !== null) expect(Buffer.byteLength(text), name).toBeLessThanOrEqual(limits.bytes);
      const usersIn = USERS.filter((u) => body.includes(u.text));
      // Each user's whole text is in the file, and the file is nothing but whole users.
      expect(usersIn.map((u) => u.text).join(''), name).toBe(body);
      if (limits.rows !== null) expect(usersIn.reduce((n, u) => n + u.rows, 0), name).toBeLessThanOrEqual(limits.rows);
      all += body;
    }
    expect(all).toBe(USERS.map((u) => u.text).join(''));
  });

  it('a file is cut only when the next user would not fit (files are as full as they can be)', async () => {
    const out = Object.values(await uninterrupted({ rows: 5, bytes: null }));
    for (let i = 0; i < out.length - 1; i++) {
      const rows = USERS.filter((u) => out[i]!.includes(u.text)).reduce((n, u) => n + u.rows, 0);
      const next = USERS.find((u) => out[i + 1]!.slice(HEADER.length).startsWith(u.text))!;
      expect(rows + next.rows).toBeGreaterThan(5);
    }
  });

  it('killed after any checkpoint and resumed from it: the same files, byte for byte', async () => {
    const limits = { rows: 6, bytes: 400 };
    const reference = await uninterrupted(limits);
    const resumedIn = new Set<number>();
    for (let cut = 0; cut < USERS.length; cut += 3) {
      const dir = tempDir('split-');
      const template = join(dir, 'out.csv');
      // First run: checkpoints every 4 users; after `cut` users it goes on without one, then dies.
      const sink = await SplitSink.create(template, HEADER, limits);
      let saved: { part: SplitPart; total: number; next: number } = { part: sink.part!, total: sink.bytes, next: 0 };
      await sink.sync();
      for (let i = 0; i < Math.min(USERS.length, cut + 9); i++) {
        sink.write(USERS[i]!.text, USERS[i]!.rows);
        if (i < cut && i % 4 === 3) {
          // As export.ts does: the position and the sync in the same tick.
          const at = { part: sink.part!, total: sink.bytes, next: i + 1 };
          await sink.sync();
          saved = at;
        }
      }
      // Whatever came after the checkpoint reached the disk (rotations included), as a kill can leave it.
      await sink.close();
      const resumed = await SplitSink.resume(template, HEADER, limits, saved.part, saved.total);
      expect(resumed.bytes).toBe(saved.total);
      for (const u of USERS.slice(saved.next)) resumed.write(u.text, u.rows);
      await resumed.close();
      expect(files(dir), `cut at ${cut}, resumed at user ${saved.next}`).toEqual(reference);
      resumedIn.add(saved.part.index);
    }
    expect(resumedIn.size).toBeGreaterThan(5); // resumed in many different files, not just the first
  });

  it('a fresh job removes the numbered files an earlier job left; a resume those after its current file', async () => {
    const dir = tempDir('split-');
    const template = join(dir, 'out.csv');
    for (const n of ['out-00001.csv', 'out-00007.csv', 'out-123456.csv']) writeFileSync(join(dir, n), 'stale\n');
    writeFileSync(join(dir, 'out-notes.csv'), 'kept\n');
    const sink = await SplitSink.create(template, HEADER, { rows: 2, bytes: null });
    await sink.close();
    expect(Object.keys(files(dir))).toEqual(['out-00001.csv']);
    expect(existsSync(join(dir, 'out-123456.csv'))).toBe(false);
    expect(existsSync(join(dir, 'out-notes.csv'))).toBe(true);

    writeFileSync(join(dir, 'out-00002.csv'), 'from after the checkpoint\n');
    const resumed = await SplitSink.resume(template, HEADER, { rows: 2, bytes: null }, { index: 1, bytes: HEADER.length, rows: 0 }, HEADER.length);
    await resumed.close();
    expect(existsSync(join(dir, 'out-00002.csv'))).toBe(false);
  });

  it('refuses a user that cannot fit in a file of its own, and a limit the header alone fills', async () => {
    const dir = tempDir('split-');
    const sink = await SplitSink.create(join(dir, 'out.csv'), HEADER, { rows: null, bytes: 40 });
    sink.write('u1,r,x\n', 1);
    expect(() => sink.write(`u2,r,${'y'.repeat(40)}\n`, 1)).toThrow(/--split-bytes 40: one user's row takes 46 bytes/);
    await expect(SplitSink.create(join(dir, 'b.csv'), HEADER, { rows: null, bytes: 10 })).rejects.toThrow(ExitError);
  });

  it('refuses to resume when the current file is shorter than the checkpoint says', async () => {
    const dir = tempDir('split-');
    const template = join(dir, 'out.csv');
    writeFileSync(partPath(template, 3), HEADER);
    await expect(SplitSink.resume(template, HEADER, { rows: 5, bytes: null }, { index: 3, bytes: 500, rows: 4 }, 2000)).rejects.toThrow(/shorter than the 500 bytes/);
    await expect(SplitSink.resume(template, HEADER, { rows: 5, bytes: null }, { index: 4, bytes: 20, rows: 1 }, 2000)).rejects.toThrow(/cannot be opened/);
  });
});
