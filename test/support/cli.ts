import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = join(ROOT, 'dist/cli.js');
export const fixture = (name: string) => join(ROOT, 'fixtures', name);

const made: string[] = [];
/** A new directory in the system's temp dir, removed when the test file ends (removeTempDirs). */
export function tempDir(prefix = 'ape-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}
/**
 * Removes what tempDir made: test/support/cleanup.ts runs it after every test file, so that a run
 * of the suite leaves nothing in /tmp (it left about 110 directories before).
 */
export function removeTempDirs(): void {
  for (const dir of made.splice(0)) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch (err) {
      // A directory a test left mounted or unwritable: say so, do not fail the file for it.
      console.warn(`could not remove ${dir}: ${(err as Error).message}`);
    }
  }
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface SpawnOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  input?: string;
}

/**
 * NODE_OPTIONS of the CLI processes the tests start. A test's export lives about a second, and
 * in it V8 spends more CPU optimising code (TurboFan on other threads, and the tier-up of
 * undici's WebAssembly HTTP parser) than the optimised code gives back: 600 users at no rate
 * limit take about 1.05 s of CPU as shipped, 0.63 s with the preload (perf stat, 2 x 6 runs).
 * `npm test` is bound by CPU on two cores. The JavaScript run is the same, only when V8
 * optimises it differs; the shipped flags are what the benchmarks, the Dockerfile test and the
 * shebang tests ("as installed") run.
 */
export const TEST_NODE_OPTIONS = `--require ${JSON.stringify(join(ROOT, 'test/support/short-lived-v8.cjs'))}`;

/** The environment of a CLI process a test starts: the key from the environment, as in production. */
export function cliEnv(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env, AMPLITUDE_SECRET_KEY: 'demo-secret-key', NODE_OPTIONS: [process.env.NODE_OPTIONS, TEST_NODE_OPTIONS].filter(Boolean).join(' '), ...extra };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  return env;
}

/** The built CLI as a user runs it; the key comes from the environment like in production. */
export function startCli(args: string[], o: SpawnOptions = {}): { child: ChildProcess; done: Promise<CliRun> } {
  const env = cliEnv(o.env);
  const child = spawn(process.execPath, [CLI, ...args], { cwd: o.cwd ?? ROOT, env: env as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  if (o.input !== undefined) child.stdin!.end(o.input);
  else child.stdin!.end();
  const done = new Promise<CliRun>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

export const runCli = (args: string[], o: SpawnOptions = {}) => startCli(args, o).done;

/** Lines of pino JSON on stderr (other lines, e.g. the final error line, are skipped). */
export function logLines(stderr: string): Array<Record<string, unknown>> {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
