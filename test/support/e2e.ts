import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { runCli, tempDir } from './cli.js';
import { fixtureEmulator, syntheticUsers } from './emulator.js';

/**
 * The set-up the end-to-end files share: one emulator serving synthetic users, a temp
 * directory, a users CSV and a reference export of it (no rate limit) that every interrupted,
 * faulty or resumed run must reproduce byte for byte.
 */
export interface SyntheticJob {
  emu: RunningEmulator;
  dir: string;
  /** The users CSV, in `dir`. */
  input: string;
  usersText: string;
  /** The uninterrupted export and its errors file (when it has one). */
  referencePath: string;
  reference: string;
  referenceErrors: string | undefined;
  /** `export --input <input> --output <out> --api-url <emulator> ...flags ...extra`. */
  args(out: string, extra?: string[]): string[];
  close(): Promise<void>;
}

export interface SyntheticJobOptions {
  users: number;
  /** Export flags shared by the reference and the runs under test (`args`). */
  flags: string[];
  /** Changes the users CSV (e.g. a row with no id in the middle). */
  edit?: (csv: string) => string;
  dirPrefix?: string;
  /** Extra environment for the reference run. */
  env?: Record<string, string>;
}

export async function syntheticJob(o: SyntheticJobOptions): Promise<SyntheticJob> {
  const emu = await fixtureEmulator({ synthetic: true });
  const dir = tempDir(o.dirPrefix);
  const input = join(dir, 'users.csv');
  const usersText = (o.edit ?? ((t) => t))(syntheticUsers(o.users));
  writeFileSync(input, usersText);
  const args = (out: string, extra: string[] = []) => ['export', '--input', input, '--output', out, '--api-url', emu.url, ...o.flags, ...extra];
  const referencePath = join(dir, 'reference.csv');
  const r = await runCli(args(referencePath, ['--rate-limit', '0']), { env: o.env ?? {} });
  if (r.code !== 0) {
    await emu.close();
    throw new Error(`the reference export failed (exit ${r.code}): ${r.stderr.slice(-2000)}`);
  }
  const errorsPath = `${referencePath}.errors.csv`;
  return {
    emu,
    dir,
    input,
    usersText,
    referencePath,
    reference: readFileSync(referencePath, 'utf8'),
    referenceErrors: existsSync(errorsPath) ? readFileSync(errorsPath, 'utf8') : undefined,
    args,
    close: () => emu.close(),
  };
}

/** Requests beyond one per user since the emulator's last reset: the work resumes repeated. */
export function repeatedRequests(emu: RunningEmulator): number {
  return Object.values(emu.stats().perId!).reduce((sum, n) => sum + (n - 1), 0);
}
