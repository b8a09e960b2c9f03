#!/usr/bin/env -S node --max-old-space-size=128
// First, before any other module runs: no inspector on SIGUSR1.
import { ignoreQuietly } from './signals-early.js';
/**
 * The command line, and the only place that exits: every ExitError becomes one line on
 * stderr and its exit code (README, "Exit codes and guarantees"); anything unexpected is exit 1.
 */
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ClaimRefused, releaseClaims } from './claim/claim.js';
import { buildConfig, type ExportArgs } from './config.js';
import { runDryRun } from './dryrun.js';
import { emulatorCommand } from './emulator/command.js';
import { describe, ExitCode, ExitError, usageError } from './errors.js';
import { runExport } from './export.js';
import { mergeCommand } from './merge/command.js';
import { exportOptions } from './export-options.js';
import { createLogger, type Logger, warningsTo } from './log.js';
import { createProgress } from './progress/reporter.js';
import { endOfRun } from './report/end.js';
import { proxyScrubber } from './proxy-redact.js';
import { loadSecret } from './secret.js';
import { TOOL_VERSION } from './version.js';

let exitCode: number = ExitCode.ok;
/** Scrubbed from the final error line too: the env key before a key file is read, then the key in use. */
let secretForErrors: string | undefined = process.env.AMPLITUDE_SECRET_KEY?.trim() || undefined;

async function exportHandler(args: ExportArgs): Promise<void> {
  const cfg = buildConfig(args);
  const startedAt = new Date();
  // Every run past this point leaves a --summary/--metrics-file, failed ones included; a dry run none.
  let reported = cfg.dryRun;
  try {
    // A dry run needs the key too: it is how tonight's config is checked, and a missing key is tonight's failure.
    const secret = loadSecret({ env: process.env.AMPLITUDE_SECRET_KEY, file: args.secretKeyFile });
    secretForErrors = secret.key;
    const progress = createProgress({ enabled: cfg.progress && !cfg.dryRun, intervalMs: cfg.progressIntervalMs, stderr: process.stderr });
    const log = createLogger({ level: cfg.logLevel, secret: secret.key, pretty: process.stderr.isTTY === true, write: progress.write });
    if (secret.warning) log.warn(secret.warning);
    warningsTo(log);
    if (cfg.dryRun) {
      const secretFrom = args.secretKeyFile !== undefined ? `--secret-key-file ${args.secretKeyFile}` : 'AMPLITUDE_SECRET_KEY';
      exitCode = await runDryRun(cfg, { log, out: process.stdout, secretFrom });
      return;
    }
    const signals = trapSignals(log, cfg.graceMs);
    try {
      const r = await runExport(cfg, { secretKey: secret.key, log, stop: signals.stop, hardStop: signals.hardStop, progress: progress.start(log) });
      reported = true;
      const code = !r.error && r.ended === 'stopped' ? signals.exitCode() : r.exitCode;
      const summary = await endOfRun(cfg, { result: r, exitCode: code, startedAt }, secret.key, log);
      if (r.error) {
        log.error(summary, 'export stopped on an error; what is above was written and checkpointed');
        throw r.error;
      }
      log.info(summary, r.ended === 'stopped' ? 'export stopped; rerun the same command to resume' : 'export finished');
      exitCode = summary.exitCode;
    } finally {
      signals.release();
    }
  } catch (err) {
    // A run refused because another holds the job writes nothing, not even its summary.
    if (!reported && !(err instanceof ClaimRefused)) {
      const code = err instanceof ExitError ? err.exitCode : ExitCode.failure;
      const say = (m: string) => process.stderr.write(`amp-profile-export: ${m}\n`);
      await endOfRun(cfg, { result: undefined, error: err, exitCode: code, startedAt }, secretForErrors, { error: say, warn: (m) => say(`warning: ${m}`) });
    }
    throw err;
  }
}

/** Signals that stop the run gracefully: SIGHUP is a dropped SSH session or terminal. */
const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
/** Logged and ignored: log-rotation set-ups send them; Node would open its inspector on SIGUSR1. */
const IGNORED_SIGNALS = ['SIGUSR1', 'SIGUSR2'] as const;
const STOP_EXIT: Record<(typeof STOP_SIGNALS)[number], ExitCode> = { SIGTERM: ExitCode.sigterm, SIGINT: ExitCode.sigint, SIGHUP: ExitCode.sighup };

/**
 * First SIGTERM/SIGINT/SIGHUP: graceful stop. Second: stop at once (a checkpoint is still
 * written). SIGUSR1/SIGUSR2: a log line, nothing else. SIGQUIT stays Node's (a core dump).
 */
function trapSignals(log: Logger, graceMs: number) {
  const stop = new AbortController();
  const hardStop = new AbortController();
  let first: (typeof STOP_SIGNALS)[number] | undefined;
  const on = (sig: (typeof STOP_SIGNALS)[number]) => {
    if (!first) {
      first = sig;
      log.warn({ signal: sig, graceSeconds: graceMs / 1000 }, 'stopping: no new requests, waiting for those in flight, then checkpointing');
      stop.abort(sig);
    } else {
      log.warn({ signal: sig }, 'second signal: dropping in-flight requests');
      hardStop.abort(sig);
    }
  };
  const ignored = (sig: NodeJS.Signals) => log.warn({ signal: sig }, 'signal ignored: only SIGTERM, SIGINT and SIGHUP stop the export');
  for (const sig of STOP_SIGNALS) process.on(sig, on);
  for (const sig of IGNORED_SIGNALS) {
    process.off(sig, ignoreQuietly);
    process.on(sig, ignored);
  }
  return {
    stop: stop.signal,
    hardStop: hardStop.signal,
    exitCode: () => STOP_EXIT[first ?? 'SIGTERM'],
    release: () => {
      for (const sig of STOP_SIGNALS) process.off(sig, on);
      for (const sig of IGNORED_SIGNALS) {
        process.off(sig, ignored);
        process.on(sig, ignoreQuietly);
      }
    },
  };
}

function parser(argv: string[]): Argv {
  const y = yargs(argv)
    .scriptName('amp-profile-export')
    .usage('$0 <command> [options]')
    .command('export', 'Export Profile API results for the users of a CSV', exportOptions, (a) => exportHandler(a as unknown as ExportArgs))
    .command(emulatorCommand)
    .command('demo', 'Start the emulator in-process and export fixtures/users.csv to out/ (no key, no network)', {}, async () => {
      // The demo's emulator and fixtures load only for `demo`.
      const { runDemo } = await import('./demo.js');
      exitCode = await runDemo(process.stdout);
    })
    .command(mergeCommand)
    .demandCommand(1, 'name a command: export, emulator, demo or merge')
    .strict()
    .help()
    // The package's own version: yargs' default looks for a package.json from the working
    // directory up, and printed "unknown" anywhere but the package's folder.
    .version(TOOL_VERSION)
    // Help is laid out for the terminal only when asked for: wrapping it cost ~0.3 s of CPU.
    .wrap(argv.includes('--help') ? Math.min(110, process.stdout.columns || 100) : null)
    .fail((msg, err) => {
      // msg: yargs' own validation (unknown flag, failed check); err alone: a handler threw.
      if (err instanceof ExitError) throw err;
      if (msg) throw usageError(tidy(msg));
      throw err ?? usageError('invalid command line');
    });
  // yargs renders the whole help once a command's handler has started, only to cache it for a
  // later showHelp(): ~60 ms of CPU (string-width) in every run, which never shows it (our
  // .fail() prints one line). --help renders its help itself, cached or not.
  (y as unknown as YargsInternals).getInternalMethods().getUsageInstance().cacheHelpMessage = () => {};
  return y;
}

/** The part of yargs' internals (not in its types) the parser above reaches into. */
interface YargsInternals {
  getInternalMethods(): { getUsageInstance(): { cacheHelpMessage(): void } };
}


/** `--input -` means stdin; yargs would read the lone `-` as a positional argument. */
export function joinDashValues(argv: string[]): string[] {
  const out: string[] = [];
  for (const a of argv) {
    const prev = out.at(-1);
    if (a === '-' && prev?.startsWith('--') && !prev.includes('=')) out[out.length - 1] = `${prev}=-`;
    else out.push(a);
  }
  return out;
}

/**
 * yargs lists an unknown `--rec-idd` twice (rec-idd, recIdd): keep the spelling the user typed.
 * One that came from the environment (`AMP_EXPORT_RATE_LIMT=5` arrives as `rateLimt`) is named
 * as the variable, so the operator knows where to look.
 */
function tidy(msg: string, env: NodeJS.ProcessEnv = process.env): string {
  return msg.replace(/^(Unknown arguments?): (.*)$/, (_, head: string, list: string) => {
    const names = list.split(', ').filter((n) => !/[A-Z]/.test(n) || !list.includes(n.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)));
    const fromEnv = (n: string) => `AMP_EXPORT_${n.replace(/[A-Z]/g, (c) => `_${c}`).replace(/-/g, '_').toUpperCase()}`;
    const shown = names.map((n) => (fromEnv(n) in env && !process.argv.some((a) => a.startsWith(`--${n}`)) ? `${n} (from the environment variable ${fromEnv(n)}: AMP_EXPORT_* variables are flags)` : n));
    return `${shown.length > 1 ? 'Unknown arguments' : 'Unknown argument'}: ${shown.join(', ')}`;
  });
}

async function main(): Promise<void> {
  try {
    await parser(joinDashValues(hideBin(process.argv))).parseAsync();
  } catch (err) {
    const scrubProxy = proxyScrubber();
    const scrub = (s: string) => scrubProxy(secretForErrors ? s.split(secretForErrors).join('[REDACTED]') : s);
    if (err instanceof ExitError) {
      process.stderr.write(`amp-profile-export: ${scrub(err.message)}${err.exitCode === ExitCode.usage && err.code === 'usage' ? ' (see --help)' : ''}\n`);
      exitCode = err.exitCode;
    } else {
      process.stderr.write(`amp-profile-export: unexpected error: ${scrub(describe(err))}\n`);
      if (process.env.AMP_PROFILE_EXPORT_DEBUG) process.stderr.write(`${scrub(String((err as Error)?.stack))}\n`);
      exitCode = ExitCode.failure;
    }
  }
  await releaseClaims();
  process.exit(exitCode);
}

void main();
