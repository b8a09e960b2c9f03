import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = join(ROOT, 'dist/cli.js');
export const fixture = (name: string) => join(ROOT, 'fixtures', name);
export const tempDir = (prefix = 'ape-') => mkdtempSync(join(tmpdir(), prefix));

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

/** The built CLI as a user runs it; the key comes from the environment like in production. */
export function startCli(args: string[], o: SpawnOptions = {}): { child: ChildProcess; done: Promise<CliRun> } {
  const env: Record<string, string | undefined> = { ...process.env, AMPLITUDE_SECRET_KEY: 'demo-secret-key', ...o.env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
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
