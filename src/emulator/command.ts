/**
 * `emulator`: serves the local Profile API until SIGINT or SIGTERM. Prints exactly one line on
 * stdout (the URL) so a script can wait for it; never exits the process itself (cli.ts does).
 */
import { readFile } from 'node:fs/promises';
import { packageFile } from '../package-files.js';
import type { Argv, ArgumentsCamelCase, CommandModule, InferredOptionTypes, Options } from 'yargs';
import { FAULT_KINDS, isFaultKind, type FaultKind } from './faults.js';
import { loadProfiles } from './profiles.js';
import type { EmulatorOptions } from './server.js';

/** The key the emulator accepts when neither --secret-key-file nor EMULATOR_SECRET_KEY is set. */
export const DEMO_SECRET_KEY = 'demo-secret-key';
const DEFAULT_PROFILES = packageFile('fixtures/profiles.json');

/** The flags; `--faults` is checked and split by checkArgs / parseFaultKinds. */
const flags = {
  port: { type: 'number', default: 8787, describe: 'Port to listen on (0 = any free port)' },
  host: { type: 'string', default: '127.0.0.1', describe: 'Address to listen on' },
  profiles: { type: 'string', default: DEFAULT_PROFILES, defaultDescription: 'fixtures/profiles.json of the package', describe: 'Fixture profiles: {"profiles": [...]}' },
  synthetic: { type: 'boolean', default: false, describe: 'Answer ids not in the fixtures with generated profiles (ids containing "unknown" stay unknown)' },
  'secret-key-file': { type: 'string', describe: `File holding the accepted secret key (else env EMULATOR_SECRET_KEY, else "${DEMO_SECRET_KEY}")` },
  'rate-limit': { type: 'number', default: 600, describe: 'Requests per --rate-interval before 429 (0 = off)' },
  'rate-interval': { type: 'number', default: 60, describe: 'Throttle window in seconds' },
  // Choices are checked by checkArgs: yargs' own `choices` message takes two lines.
  'unknown-status': { type: 'number', default: 400, describe: 'Status of the "not seen before" answer: 200, 400 or 404' },
  shape: { type: 'string', default: 'official', describe: 'Answer shape: official (propensities, cohort_ids) or legacy (predictions, cohort_memberships)' },
  'fault-rate': { type: 'number', default: 0, describe: 'Share of requests (0..1) that get a fault' },
  faults: { type: 'string', default: FAULT_KINDS.join(','), describe: 'Fault kinds to pick from' },
  'fault-seed': { type: 'number', default: 1, describe: 'Seed: the same seed gives the same faults per user and attempt' },
  'slow-ms': { type: 'number', default: 3000, describe: 'Delay of the "slow" fault in ms' },
  'retry-after': { type: 'number', default: 1, describe: 'Retry-After seconds of the "429" fault (a fraction such as 0.05 is not valid HTTP, but the exporter honours it: tests use it to wait less)' },
  'tls-cert': { type: 'string', describe: 'Serve https with this certificate (PEM file; needs --tls-key)' },
  'tls-key': { type: 'string', describe: 'Private key (PEM file) of --tls-cert' },
  epoch: { type: 'number', default: 0, describe: 'Answers as of night N: at each epoch about one user in ten gets new recommendations and propensities (deterministic per id)' },
  record: { type: 'boolean', default: false, describe: 'Keep arrival times and per-id counts for GET /__emulator/stats' },
} as const satisfies Record<string, Options>;

/** The parsed flags, in yargs' camelCase form (kebab-case keys are there too). */
export type EmulatorArgs = ArgumentsCamelCase<InferredOptionTypes<typeof flags>>;

const builder = (yargs: Argv) => yargs.options(flags).check(checkArgs);

/** yargs check: returns true or throws one line naming the flag, what was expected and got. */
function checkArgs(a: Record<string, unknown>): true {
  const int = (flag: string, min: number, max = Number.MAX_SAFE_INTEGER): void => {
    const v = a[flag];
    if (!(Number.isInteger(v) && (v as number) >= min && (v as number) <= max)) {
      const range = max < Number.MAX_SAFE_INTEGER ? ` from ${min} to ${max}` : min > Number.MIN_SAFE_INTEGER ? ` >= ${min}` : '';
      throw new Error(`--${flag}: expected an integer${range}, got ${String(v)}`);
    }
  };
  int('port', 0, 65535);
  int('rate-limit', 0);
  int('fault-seed', Number.MIN_SAFE_INTEGER);
  int('slow-ms', 0);
  const retryAfter = a['retry-after'] as number;
  if (!(Number.isFinite(retryAfter) && retryAfter >= 0)) throw new Error(`--retry-after: expected a number of seconds >= 0, got ${String(retryAfter)}`);
  int('epoch', 0, 1_000_000);
  const interval = a['rate-interval'] as number;
  if (!(Number.isFinite(interval) && interval > 0)) throw new Error(`--rate-interval: expected a number of seconds > 0, got ${String(interval)}`);
  if (![200, 400, 404].includes(a['unknown-status'] as number)) throw new Error(`--unknown-status: expected 200, 400 or 404, got ${String(a['unknown-status'])}`);
  if (a['shape'] !== 'official' && a['shape'] !== 'legacy') throw new Error(`--shape: expected official or legacy, got ${String(a['shape'])}`);
  const rate = a['fault-rate'] as number;
  if (!(rate >= 0 && rate <= 1)) throw new Error(`--fault-rate: expected a number from 0 to 1, got ${String(rate)}`);
  parseFaultKinds(String(a['faults']));
  if ((a['tls-cert'] === undefined) !== (a['tls-key'] === undefined)) throw new Error('--tls-cert and --tls-key go together: give both or neither');
  return true;
}

function parseFaultKinds(list: string): FaultKind[] {
  const kinds = list.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const bad = kinds.find((k) => !isFaultKind(k));
  if (bad !== undefined || kinds.length === 0) {
    throw new Error(`--faults: expected a comma-separated list of ${FAULT_KINDS.join(', ')}, got "${list}"`);
  }
  return kinds as FaultKind[];
}

/** The accepted key: --secret-key-file, else env EMULATOR_SECRET_KEY, else the demo key. */
export async function resolveSecretKey(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (file === undefined) return env['EMULATOR_SECRET_KEY'] || DEMO_SECRET_KEY;
  let key: string;
  try {
    key = (await readFile(file, 'utf8')).trim();
  } catch (err) {
    throw new Error(`--secret-key-file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (key === '') throw new Error(`--secret-key-file ${file}: the file is empty`);
  return key;
}

/** Turns parsed flags into EmulatorOptions (reads the profiles and key files). */
export async function emulatorOptionsFrom(args: EmulatorArgs, env: NodeJS.ProcessEnv = process.env): Promise<EmulatorOptions> {
  return {
    port: args.port,
    host: args.host,
    profiles: await loadProfiles(args.profiles),
    synthetic: args.synthetic,
    epoch: args.epoch,
    secretKey: await resolveSecretKey(args.secretKeyFile, env),
    rateLimit: args.rateLimit,
    rateIntervalMs: args.rateInterval * 1000,
    unknownStatus: args.unknownStatus as 200 | 400 | 404, // checked by checkArgs
    shape: args.shape === 'legacy' ? 'legacy' : 'official',
    faults: args.faultRate > 0
      ? { rate: args.faultRate, kinds: parseFaultKinds(args.faults), seed: args.faultSeed, slowMs: args.slowMs, retryAfterSeconds: args.retryAfter }
      : null,
    record: args.record,
    ...(args.tlsCert !== undefined && args.tlsKey !== undefined ? { tls: { cert: await readPem(args.tlsCert, '--tls-cert'), key: await readPem(args.tlsKey, '--tls-key') } } : {}),
  };
}

async function readPem(file: string, flag: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new Error(`${flag} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/**
 * Starts the emulator, prints its URL line, and closes it when `until` settles
 * (default: the first SIGINT or SIGTERM).
 */
export async function runEmulator(args: EmulatorArgs, io: { stdout?: NodeJS.WritableStream; until?: Promise<unknown> } = {}): Promise<void> {
  // Loaded here, not at the CLI's start: an export does not load the server (or node:https).
  const { startEmulator } = await import('./server.js');
  const emulator = await startEmulator(await emulatorOptionsFrom(args));
  (io.stdout ?? process.stdout).write(`Profile API emulator listening on ${emulator.url}\n`);
  await (io.until ?? nextSignal());
  await emulator.close();
}

function nextSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

export const emulatorCommand: CommandModule<object, InferredOptionTypes<typeof flags>> = {
  command: 'emulator',
  describe: 'Serve a local Profile API from fixture profiles (documented errors, throttle, optional faults)',
  builder,
  handler: (args) => runEmulator(args),
};
