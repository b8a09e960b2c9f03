import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import yargs from 'yargs';
import { buildConfig } from '../../src/config.js';
import { usageError } from '../../src/errors.js';
import { mergeCommand } from '../../src/merge/command.js';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { CLI, cliEnv, fixture, ROOT, tempDir } from '../support/cli.js';
import { fixtureEmulator } from '../support/emulator.js';
import { parseExportArgs } from '../support/export-args.js';

/**
 * The README's shell commands, run as printed (as csv-parse runs the samples of its docs), so
 * that the next stale line fails here instead of for a user.
 *
 * Every ```sh block must follow a marker line (a block without one fails the first test):
 * - `<!-- readme-test: run -->`: the block runs in bash (`set -eo pipefail`), every command must
 *   succeed. `run with users.csv`: the folder also holds a copy of fixtures/users.csv.
 * - `<!-- readme-test: serve -->`: a long-lived command (the emulator): it must print a first
 *   line on stdout and still be running; then it is stopped.
 * - `<!-- readme-test: skip: REASON -->`: not run (needs a cluster, Docker, S3 buckets, Redis);
 *   its `amp-profile-export export|merge` lines still go through the CLI's own parser (and
 *   export's configuration checks), so a renamed or misspelt flag fails here too.
 * A ```csv block right after a run block is a sample of its output: some file the block wrote
 * under out/ must start with exactly those lines.
 *
 * Where a block runs: a fresh folder with the repository's fixtures/, jobs/, dist/,
 * node_modules/ and package.json linked in; `amp-profile-export` on the PATH (the built bin, as
 * `npm link` installs it); the emulator as the API (AMP_EXPORT_API_URL) with its key in
 * AMPLITUDE_SECRET_KEY and on stdin (for `read`), so commands written for a real key need no
 * key or network. The suite runs in an installed, built tree, so `npm ci`, `npm run build`,
 * `npm link` and `npm install` do nothing; `npm run X` runs the package.json script X without
 * its leading `npm run build &&`; `npx amp-profile-export` runs the bin. Any other npm command
 * fails: mark such a block skip.
 */

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const KEY = 'demo-secret-key';

interface Block {
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  text: string;
  marker: { mode: string; arg: string } | undefined;
}

function blocks(md: string): Block[] {
  const lines = md.split('\n');
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    let end = i + 1;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    const m = /^<!-- readme-test: (\w+)(?::?\s+(.*?))? -->$/.exec(lines[start - 1] ?? '');
    out.push({ line: start + 1, lang: open[1]!, text: lines.slice(start + 1, end).join('\n') + '\n', marker: m ? { mode: m[1]!, arg: m[2] ?? '' } : undefined });
    i = end;
  }
  return out;
}

const all = blocks(README);
const shell = all.filter((b) => b.lang === 'sh' || b.lang === 'bash' || b.lang === 'shell');
/** The csv block right after block b (only prose or blank lines between them do not count: it must be the next block). */
const sampleAfter = (b: Block) => {
  const next = all[all.indexOf(b) + 1];
  return next?.lang === 'csv' ? next : undefined;
};

const PRELUDE = String.raw`set -eo pipefail
npm() {
  case "$1" in
    ci|link|install) return 0 ;;
    run)
      [ "$2" = build ] && return 0
      local script
      script=$(node -e 'const s = require("./package.json").scripts[process.argv[1]]; if (!s) process.exit(3); console.log(s.replace(/^npm run build && /, ""))' "$2") || { echo "readme-test: no npm script $2" >&2; return 1; }
      shift 2
      eval "$script" ;;
    *) echo "readme-test: npm $1 is not run here: mark the block skip" >&2; return 1 ;;
  esac
}
npx() {
  if [ "$1" = amp-profile-export ]; then shift; amp-profile-export "$@"; else echo "readme-test: npx $1 is not run here" >&2; return 1; fi
}
`;

let emu: RunningEmulator;
let bin: string;
beforeAll(async () => {
  emu = await fixtureEmulator();
  bin = tempDir('ape-readme-bin-');
  symlinkSync(CLI, join(bin, 'amp-profile-export'));
});
afterAll(async () => emu?.close());

function workdir(withUsers: boolean): string {
  const dir = tempDir('ape-readme-');
  for (const name of ['fixtures', 'jobs', 'dist', 'node_modules', 'package.json']) symlinkSync(join(ROOT, name), join(dir, name));
  if (withUsers) copyFileSync(fixture('users.csv'), join(dir, 'users.csv'));
  return dir;
}

function spawnBlock(b: Block, cwd: string) {
  const env = cliEnv({ PATH: `${bin}:${process.env.PATH}`, AMP_EXPORT_API_URL: emu.url, AMPLITUDE_SECRET_KEY: KEY }) as NodeJS.ProcessEnv;
  // Its own process group, so that stopping it stops what it started.
  const child = spawn('bash', ['-c', PRELUDE + b.text], { cwd, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end(`${KEY}\n`);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<number | null>((ok) => child.on('close', (code) => ok(code)));
  return { child, done, out: () => stdout, err: () => stderr };
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  let out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    out = statSync(p).isDirectory() ? out.concat(filesUnder(p)) : out.concat(p);
  }
  return out;
}

/**
 * The `amp-profile-export` command lines of a block: continuation lines joined, trailing
 * comments dropped, words split on blanks with surrounding quotes removed; leading VAR=value
 * words become the environment.
 */
function cliLines(text: string): Array<{ env: Record<string, string>; args: string[] }> {
  const out: Array<{ env: Record<string, string>; args: string[] }> = [];
  for (const raw of text.replace(/\\\n/g, ' ').split('\n')) {
    const words = (raw.replace(/\s+#.*$/, '').match(/'[^']*'|"[^"]*"|\S+/g) ?? []).map((w) => w.replace(/^(['"])(.*)\1$/, '$2'));
    const env: Record<string, string> = {};
    while (words.length > 0 && /^[A-Z_][A-Z0-9_]*=/.test(words[0]!)) {
      const [k, ...v] = words.shift()!.split('=');
      env[k!] = v.join('=');
    }
    if (words[0] === 'amp-profile-export') out.push({ env, args: words.slice(1) });
  }
  return out;
}

async function parseMerge(args: string[]): Promise<void> {
  await yargs(['merge', ...args])
    .command({ ...mergeCommand, handler: () => undefined })
    .strict()
    .exitProcess(false)
    .fail((msg, err) => {
      throw msg ? usageError(msg) : err;
    })
    .parseAsync();
}

describe('README', () => {
  it('marks every shell block run, serve or skip (with a reason)', () => {
    expect(shell.length).toBeGreaterThan(5);
    const unmarked = shell.filter((b) => !b.marker || !['run', 'serve', 'skip'].includes(b.marker.mode) || (b.marker.mode === 'skip' && !b.marker.arg));
    expect(unmarked.map((b) => `README.md:${b.line - 1}: no <!-- readme-test: run|serve|skip: reason --> before this block`)).toEqual([]);
    for (const b of shell.filter((x) => x.marker?.mode === 'run')) expect(['', 'with users.csv'], `README.md:${b.line - 1}`).toContain(b.marker!.arg);
  });

  it('states the ENTRYPOINT the Dockerfile has', () => {
    const entrypoint = /^ENTRYPOINT (.*)$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))![1]!;
    expect(README).toContain(`\`ENTRYPOINT ${entrypoint}\``);
  });

  for (const b of shell.filter((x) => x.marker?.mode === 'run')) {
    const first = b.text.split('\n').find((l) => l.trim() && !l.startsWith('#'))!;
    it(`runs the block at README.md:${b.line}: ${first.slice(0, 60)}`, { timeout: 240_000 }, async () => {
      const cwd = workdir(b.marker!.arg === 'with users.csv');
      const run = spawnBlock(b, cwd);
      const code = await run.done;
      expect(code, `stderr:\n${run.err()}\nstdout:\n${run.out()}`).toBe(0);
      expect(run.err()).not.toMatch(/readme-test:|command not found/);
      const sample = sampleAfter(b);
      if (sample) {
        const written = filesUnder(join(cwd, 'out')).map((f) => readFileSync(f, 'utf8'));
        expect(
          written.some((t) => t.startsWith(sample.text)),
          `no file under out/ starts with the sample at README.md:${sample.line}`,
        ).toBe(true);
      }
    });
  }

  it('has, in the blocks it does not run, only export and merge lines the CLI accepts', async () => {
    const checked: string[] = [];
    for (const b of shell.filter((x) => x.marker?.mode === 'skip')) {
      for (const { env, args } of cliLines(b.text)) {
        const where = `README.md:${b.line}: amp-profile-export ${args.join(' ')}`;
        if (args[0] === 'export') {
          const amp = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('AMP_EXPORT_')));
          await expect(parseExportArgs(args.slice(1), amp).then((a) => buildConfig(a)), where).resolves.toBeDefined();
        } else if (args[0] === 'merge') {
          await expect(parseMerge(args.slice(1)), where).resolves.toBeUndefined();
        } else {
          throw new Error(`${where}: only export and merge lines are checked; run this block or teach the test`);
        }
        checked.push(args[0]!);
      }
    }
    expect(checked).toContain('export');
    expect(checked).toContain('merge');
  });

  for (const b of shell.filter((x) => x.marker?.mode === 'serve')) {
    it(`starts the long-lived command at README.md:${b.line} and it prints its first line`, { timeout: 60_000 }, async () => {
      const run = spawnBlock(b, workdir(false));
      let exited = false;
      void run.done.then(() => (exited = true));
      try {
        for (let i = 0; i < 400 && !run.out().includes('\n') && !exited; i++) await new Promise((r) => setTimeout(r, 50));
        expect(run.out(), run.err()).toMatch(/^.+\n/);
        expect(exited, run.err()).toBe(false);
      } finally {
        if (!exited) process.kill(-run.child.pid!, 'SIGTERM');
        await run.done;
      }
    });
  }
});
