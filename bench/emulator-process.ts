/**
 * The Profile API emulator in its own process (`node dist/cli.js emulator ...`), so that its
 * CPU is not the bench's: started on port 0, ready once it prints its URL line, read through
 * `GET /__emulator/stats`, stopped with SIGTERM.
 */
import { spawn } from 'node:child_process';
import type { EmulatorStats } from '../src/emulator/server.js';
import { stopChild, tail, track } from './children.js';

export interface EmulatorProcess {
  url: string;
  pid: number;
  /** Why the emulator exited, if it did before stop(). */
  readonly died: string | undefined;
  stats(): Promise<EmulatorStats>;
  stop(): Promise<void>;
}

const READY = /Profile API emulator listening on (http:\/\/127\.0\.0\.1:\d+)/;

/** `args` come after `emulator --host 127.0.0.1 --port 0` (e.g. --synthetic --rate-limit 0). */
export async function startEmulatorProcess(cli: string, args: string[], timeoutMs = 15_000): Promise<EmulatorProcess> {
  const child = spawn(process.execPath, [cli, 'emulator', '--host', '127.0.0.1', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = track(child);
  const stderr = tail(child.stderr);
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`emulator did not print its URL within ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      const m = READY.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    exited.then(
      (e) => fail(new Error(`emulator exited (code ${e.code}, signal ${e.signal}) before listening: ${stderr().trim()}`)),
      (err: Error) => fail(err),
    );
  });
  // An emulator that dies mid-bench would otherwise show up as a slow, failing export.
  let died: string | undefined;
  void exited.then(
    (e) => {
      if (!stopping) died = `emulator (pid ${child.pid}) exited with code ${e.code}, signal ${e.signal}: ${stderr().trim().slice(-800)}`;
    },
    () => {},
  );
  let stopping = false;
  return {
    url,
    pid: child.pid!,
    get died() {
      return died;
    },
    async stats() {
      if (died) throw new Error(died);
      const res = await fetch(`${url}/__emulator/stats`);
      if (!res.ok) throw new Error(`emulator stats: HTTP ${res.status}`);
      return (await res.json()) as EmulatorStats;
    },
    async stop() {
      stopping = true;
      await stopChild(child, exited);
    },
  };
}
