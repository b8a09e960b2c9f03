/**
 * Every child process the bench starts is tracked here, so that an interrupted bench (Ctrl-C)
 * stops exactly the processes it started, by their pid, and nothing else.
 */
import type { ChildProcess } from 'node:child_process';

/** Children spawned `detached` lead their own process group (a wrapper and its Node child). */
const live = new Map<ChildProcess, { group: boolean }>();

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * Tracks `child` until it exits; the returned promise settles on its exit (or spawn error).
 * `group`: the child was spawned `detached` and signals go to its whole process group, so a
 * wrapper such as /usr/bin/time never leaves its Node child behind.
 */
export function track(child: ChildProcess, group = false): Promise<Exit> {
  live.set(child, { group });
  return new Promise<Exit>((resolve, reject) => {
    child.once('error', (err) => {
      live.delete(child);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
}

/** Sends `signal` to each tracked child still running (by its own pid, or its group's). */
export function killTracked(signal: NodeJS.Signals = 'SIGTERM'): void {
  for (const [child, { group }] of live) {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) continue;
    try {
      if (group) process.kill(-child.pid, signal);
      else child.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** SIGTERM, then SIGKILL if the child is still there after `graceMs`. */
export async function stopChild(child: ChildProcess, exited: Promise<Exit>, graceMs = 5000): Promise<Exit> {
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), graceMs)));
  const first = await Promise.race([exited, late]);
  clearTimeout(timer);
  if (first !== 'late') return first;
  child.kill('SIGKILL');
  return exited;
}

/** Keeps the last `max` characters of a stream's text (stderr of a child, for error reports). */
export function tail(stream: NodeJS.ReadableStream | null, max = 16_384): () => string {
  let text = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    text += chunk;
    if (text.length > 2 * max) text = text.slice(-max);
  });
  return () => text.slice(-max);
}
