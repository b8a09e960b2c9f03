/**
 * The `export` command's options as yargs reads them: its flags, a job file (--config) and the
 * AMP_EXPORT_* environment. One builder for cli.ts and for the tests that check job files and
 * Kubernetes manifests against the real parser.
 */
import type { Argv, Options } from 'yargs';
import { exportFlags } from './flags.js';
import { withJobFile } from './jobfile.js';

/**
 * A flag given twice: the last one wins, as in most command lines (yargs would make a list).
 * Per flag, not yargs' global `duplicate-arguments-array`, which also collapses `merge a b`.
 */
function lastWins<T extends Record<string, Options>>(flags: T): T {
  return Object.fromEntries(Object.entries(flags).map(([k, o]) => [k, { ...o, coerce: (v: unknown) => (Array.isArray(v) ? v.at(-1) : v) }])) as T;
}

/**
 * Precedence: command line > env AMP_EXPORT_* > job file > defaults (yargs-parser's own order).
 * `duplicate-arguments-array` off here too, for `--config`: yargs reads the job file before any
 * coerce runs, and would be handed a list. Set in this builder, it holds for `export` only.
 */
export function exportOptions<T>(y: Argv<T>) {
  return withJobFile(y.options(lastWins(exportFlags)).parserConfiguration({ 'duplicate-arguments-array': false })).env('AMP_EXPORT');
}
