/**
 * Incremental-export figures (README "Incremental exports"): `npm run build && npx tsx bench/state.ts [users]`.
 * Night 1 fills a state; night 2 (emulator epoch 2: about 10 % of the answers changed) is
 * exported once without a state and once with `--state --delta`: users/s of each, peak RSS, the
 * state's bytes per user, and the final state update's duration (from its log line).
 */
import { stat, mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulatorProcess } from './emulator-process.js';
import { runExportProcess } from './export-process.js';
import { SHIPPED_NODE_OPTIONS } from '../src/shipped.js';
import { writeUsersCsv } from './users.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');

async function main(): Promise<void> {
  const users = Number(process.argv[2] ?? 100_000);
  const tmp = await mkdtemp(join(tmpdir(), 'amp-bench-state-'));
  const input = join(tmp, 'users.csv');
  await writeUsersCsv(input, users);
  const env: NodeJS.ProcessEnv = { ...process.env, AMPLITUDE_SECRET_KEY: 'demo-secret-key', NODE_OPTIONS: SHIPPED_NODE_OPTIONS };
  const state = join(tmp, 'state.sqlite');
  const rows: Array<Record<string, unknown>> = [];
  const run = async (label: string, epoch: number, extra: string[]) => {
    const api = await startEmulatorProcess(CLI, ['--synthetic', '--rate-limit', '0', '--epoch', String(epoch)]);
    try {
      const out = join(tmp, `${label}.csv`);
      const r = await runExportProcess({
        cli: CLI,
        cwd: tmp,
        env,
        timeFile: join(tmp, `${label}.time`),
        args: ['--input', input, '--output', out, '--api-url', api.url, '--rate-limit', '0', '--concurrency', '16', '--rec-id', 'homepage', '--prediction-id', 'p-churn', '--no-progress', ...extra],
      });
      if (r.code !== 0) throw new Error(`${label}: exit ${r.code ?? r.signal}: ${r.stderr.slice(-500)}`);
      const update = /"ms":(\d+),"msg":"state updated"/.exec(r.stderr);
      const row = { label, usersPerSec: Math.round((users * 1000) / r.wallMs), wallS: +(r.wallMs / 1000).toFixed(1), peakRssMB: r.peakRssKib && Math.round(r.peakRssKib / 1024), stateUpdateS: update ? +(Number(update[1]) / 1000).toFixed(1) : null, outputBytes: (await stat(out)).size };
      rows.push(row);
      process.stderr.write(`${JSON.stringify(row)}\n`);
    } finally {
      await api.stop();
    }
  };
  const load = loadavg()[0]!;
  await run('night1-state', 1, ['--state', state]);
  await run('night2-plain', 2, []);
  await run('night2-delta', 2, ['--state', state, '--delta']);
  const bytes = (await stat(state)).size;
  const plain = rows[1]!.usersPerSec as number;
  const delta = rows[2]!.usersPerSec as number;
  process.stdout.write(
    `${JSON.stringify({ users, loadAtStart: +load.toFixed(2), loadAtEnd: +loadavg()[0]!.toFixed(2), runs: rows, deltaVsPlain: +(delta / plain).toFixed(2), stateBytes: bytes, stateBytesPerUser: Math.round(bytes / users) }, null, 1)}\n`,
  );
  await rm(tmp, { recursive: true, force: true });
}

void main();
