/**
 * The ceiling for the throughput suite: the export's request mix sent by a bare keep-alive
 * undici loop (one Pool, `connections` workers each awaiting `pool.request` and `body.text()`),
 * with no parsing, ordering, writing or checkpointing. Whatever the export does beyond HTTP
 * shows up as the gap between the two.
 *
 * Run as its own process, like the export, so both pay for one Node process next to the
 * emulator: `node --import tsx bench/ceiling.ts '{"origin":...,"requests":...}'` with the key in env
 * AMPLITUDE_SECRET_KEY; prints one JSON line (CeilingResult).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Pool } from 'undici';
import { makePathBuilder } from '../src/api/request.js';
import type { ProfileQuery } from '../src/api/types.js';
import { tail, track } from './children.js';
import { benchUserId } from './users.js';

export interface CeilingOptions {
  origin: string;
  requests: number;
  connections: number;
  recIds: string[];
  predictionIds: string[];
}

export interface CeilingResult {
  requests: number;
  /** Time of the loop alone (after the pool exists, until the last body is read). */
  ms: number;
  reqPerSec: number;
  /** User + system CPU of this process during the loop, µs per request. */
  cpuMicrosPerRequest: number;
  byStatus: Record<string, number>;
}

export async function bareLoop(o: CeilingOptions, secretKey: string): Promise<CeilingResult> {
  const query: ProfileQuery = { recIds: o.recIds, ampProps: false, cohortIds: false, computations: false, compIds: [], predictionIds: o.predictionIds };
  const path = makePathBuilder(query);
  const headers = { authorization: `Api-Key ${secretKey}` };
  const pool = new Pool(o.origin, { connections: o.connections });
  const byStatus: Record<string, number> = {};
  let next = 1;
  const worker = async () => {
    while (next <= o.requests) {
      const i = next++;
      const { statusCode, body } = await pool.request({ method: 'GET', path: path({ user_id: benchUserId(i), device_id: '' }), headers });
      await body.text();
      byStatus[statusCode] = (byStatus[statusCode] ?? 0) + 1;
    }
  };
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(Array.from({ length: o.connections }, worker));
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await pool.close();
  return { requests: o.requests, ms, reqPerSec: (o.requests * 1000) / ms, cpuMicrosPerRequest: (cpu.user + cpu.system) / o.requests, byStatus };
}

/** Runs `bareLoop` in a child process (this file as its entry). */
export async function runCeilingProcess(o: CeilingOptions, secretKey: string): Promise<CeilingResult> {
  // This file is TypeScript run by tsx (`npm run bench`): the child loads it the same way.
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), JSON.stringify(o)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, AMPLITUDE_SECRET_KEY: secretKey },
  });
  const exited = track(child);
  const stdout = tail(child.stdout);
  const stderr = tail(child.stderr);
  const e = await exited;
  if (e.code !== 0) throw new Error(`ceiling loop exited (code ${e.code}, signal ${e.signal}): ${stderr().trim()}`);
  return JSON.parse(stdout().trim()) as CeilingResult;
}

async function main(): Promise<void> {
  const o = JSON.parse(process.argv[2] ?? '{}') as CeilingOptions;
  const key = process.env['AMPLITUDE_SECRET_KEY'] ?? '';
  process.stdout.write(`${JSON.stringify(await bareLoop(o, key))}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`ceiling: ${String((err as Error)?.stack ?? err)}\n`);
    process.exitCode = 1;
  });
}
