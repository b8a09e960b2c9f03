/**
 * One real export: `node dist/cli.js export ...` as a child process, timed from spawn to exit,
 * with its peak RSS. Peak RSS comes from `/usr/bin/time -v` ("Maximum resident set size",
 * exact, written to its own file with -o so the CLI's stderr stays apart); without it, from
 * VmHWM in /proc/<pid>/status polled every 200 ms (the last value read before exit).
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, openSync, closeSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tail, track } from './children.js';

export interface ExportRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Spawn to exit of the child (Node start-up included). */
  wallMs: number;
  /** Peak resident set, KiB; null when neither /usr/bin/time nor /proc could tell. */
  peakRssKib: number | null;
  rssSource: '/usr/bin/time' | '/proc VmHWM' | 'none';
  /** User + system CPU seconds of the export (from /usr/bin/time); null without it. */
  cpuSeconds: number | null;
  stderr: string;
}

export interface ExportSpawn {
  cli: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** The child's stdout goes straight to this file (like `> file`); else it is discarded. */
  stdoutFile?: string;
  /** Scratch file for /usr/bin/time's report. */
  timeFile: string;
}

const TIME = '/usr/bin/time';
const hasTime = (() => {
  try {
    accessSync(TIME, constants.X_OK);
    return true;
  } catch {
    return false;
  }
})();

export async function runExportProcess(s: ExportSpawn): Promise<ExportRun> {
  const node = [process.execPath, s.cli, 'export', ...s.args];
  const [cmd, ...argv] = hasTime ? [TIME, '-v', '-o', s.timeFile, ...node] : node;
  // A file descriptor, not a pipe through the bench: the bench process must not spend CPU
  // copying output on a 2-core machine while the export and the emulator run.
  const outFd = s.stdoutFile ? openSync(s.stdoutFile, 'w') : undefined;
  const t0 = performance.now();
  let child;
  try {
    child = spawn(cmd!, argv, { cwd: s.cwd, env: s.env, stdio: ['ignore', outFd ?? 'ignore', 'pipe'], detached: true });
  } finally {
    if (outFd !== undefined) closeSync(outFd);
  }
  const exited = track(child, true);
  const stderr = tail(child.stderr);
  let hwm: number | null = null;
  const poll = hasTime ? undefined : setInterval(() => void vmHwmKib(child.pid).then((v) => (hwm = v ?? hwm)), 200);
  const e = await exited;
  const wallMs = performance.now() - t0;
  clearInterval(poll);
  let peakRssKib: number | null = hwm;
  let cpuSeconds: number | null = null;
  if (hasTime) {
    const report = await readFile(s.timeFile, 'utf8').catch(() => '');
    const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(report);
    peakRssKib = m ? Number(m[1]) : null;
    const user = /User time \(seconds\): ([\d.]+)/.exec(report);
    const system = /System time \(seconds\): ([\d.]+)/.exec(report);
    cpuSeconds = user && system ? Number(user[1]) + Number(system[1]) : null;
    await rm(s.timeFile, { force: true });
  }
  return {
    code: e.code,
    signal: e.signal,
    wallMs,
    peakRssKib,
    rssSource: hasTime ? TIME : peakRssKib !== null ? '/proc VmHWM' : 'none',
    cpuSeconds,
    stderr: stderr(),
  };
}

async function vmHwmKib(pid: number | undefined): Promise<number | null> {
  if (pid === undefined) return null;
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const m = /^VmHWM:\s+(\d+) kB/m.exec(status);
  return m ? Number(m[1]) : null;
}
