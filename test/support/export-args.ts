import yargs from 'yargs';
import type { ExportArgs } from '../../src/config.js';
import { usageError } from '../../src/errors.js';
import { exportOptions } from '../../src/export-options.js';

/**
 * `export ARGS` parsed in-process the way cli.ts parses it (the same builder: flags, job file,
 * AMP_EXPORT_* env; strict), for tests that must not start a process or touch S3 and Redis.
 * `env` replaces every AMP_EXPORT_* variable for the parse. A failure throws the one-line
 * usage error the CLI would print.
 */
export async function parseExportArgs(args: string[], env: Record<string, string> = {}): Promise<ExportArgs> {
  const saved = Object.entries(process.env).filter(([k]) => k.startsWith('AMP_EXPORT_'));
  for (const [k] of saved) delete process.env[k];
  Object.assign(process.env, env);
  try {
    let parsed: ExportArgs | undefined;
    await yargs(['export', ...args])
      .command('export', 'export', exportOptions, (a) => {
        parsed = a as unknown as ExportArgs;
      })
      .strict()
      .exitProcess(false)
      .fail((msg, err) => {
        throw msg ? usageError(msg) : err;
      })
      .parseAsync();
    if (!parsed) throw new Error(`export ${args.join(' ')}: the handler did not run`);
    return parsed;
  } finally {
    for (const k of Object.keys(env)) delete process.env[k];
    for (const [k, v] of saved) process.env[k] = v;
  }
}
