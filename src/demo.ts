import { readFile } from 'node:fs/promises';
import { packageFile } from './package-files.js';
import { buildConfig, type ExportArgs } from './config.js';
import { DEMO_SECRET_KEY } from './emulator/command.js';
import { loadProfiles } from './emulator/profiles.js';
import { startEmulator } from './emulator/server.js';
import { runExport } from './export.js';
import { exportDefaults } from './flags.js';
import { createLogger } from './log.js';

const fixture = (name: string) => packageFile(`fixtures/${name}`);

/** The export flags the demo uses: also the README's example command. */
export const DEMO_FLAGS = {
  recId: 'homepage,email-weekly',
  predictionId: 'p-churn,p-buy',
  propensityType: 'score',
  cohortIds: true,
  maxItems: 5,
} as const;

/**
 * `demo`: the emulator in-process on a free loopback port, then fixtures/users.csv exported to
 * out/demo.csv and out/demo.jsonl at the real default rate (600 a minute), and what came out.
 */
export async function runDemo(out: NodeJS.WritableStream): Promise<number> {
  const emulator = await startEmulator({ profiles: await loadProfiles(fixture('profiles.json')), secretKey: DEMO_SECRET_KEY });
  const log = createLogger({ level: 'warn', secret: DEMO_SECRET_KEY, pretty: process.stderr.isTTY === true });
  const never = new AbortController().signal;
  out.write(`Profile API emulator on ${emulator.url}; exporting ${fixture('users.csv')} at 600 requests a minute\n`);
  try {
    let code = 0;
    for (const [output, format] of [['out/demo.csv', 'csv'], ['out/demo.jsonl', 'jsonl']] as const) {
      const args = { ...exportDefaults(), ...DEMO_FLAGS, input: fixture('users.csv'), output, apiUrl: emulator.url, fresh: true, maxItems: format === 'csv' ? 5 : undefined };
      const cfg = buildConfig(args as unknown as ExportArgs);
      const r = await runExport(cfg, { secretKey: DEMO_SECRET_KEY, log, stop: never, hardStop: never });
      if (r.error) throw r.error;
      const c = r.counts;
      out.write(
        `\n${cfg.output.kind === 'file' ? cfg.output.path : output}: ${c.users} users, ${c.rows} rows ` +
          `(ok ${c.ok}, no_recs ${c.no_recs}, unknown_user ${c.unknown_user}, failed ${c.failed}), ` +
          `${c.skipped} unreadable input rows in ${cfg.errorsPath}, ${r.requests.requests} requests in ${(r.durationMs / 1000).toFixed(1)} s\n`,
      );
      const text = await readFile(output, 'utf8');
      const first = text.split('\n').slice(0, format === 'csv' ? 6 : 2);
      out.write(first.map((l) => `  ${l.length > 160 ? l.slice(0, 157) + '...' : l}`).join('\n') + '\n');
      code = Math.max(code, r.exitCode);
    }
    return code;
  } finally {
    await emulator.close();
  }
}
