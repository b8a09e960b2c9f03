/**
 * Job files (`export --config jobs/nightly.yaml`): the export's flags written down in YAML or
 * JSON, one key per flag, spelled as on the command line (`rec-id`) or in camelCase (`recId`).
 *
 * Precedence, highest first: command line > env AMP_EXPORT_* > job file > the flags' defaults.
 * yargs-parser applies exactly this order (argv, env, config, defaults), so this module only
 * reads and checks the file; `withJobFile` hands it to yargs' `.config()`.
 *
 * Values are taken as the command line would take them: relative paths are relative to the
 * working directory (not to the job file), so moving a flag between the file, the environment
 * and the command line never changes what it means.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import type { Node } from 'yaml';
import type { Argv } from 'yargs';
import { usageError } from './errors.js';
import { exportFlags } from './flags.js';

/** yaml (84 modules, ~50 ms of every start) is loaded only when a job file is read. */
let yamlLib: typeof Yaml | undefined;
const yaml = (): typeof Yaml => (yamlLib ??= createRequire(import.meta.url)('yaml') as typeof Yaml);

/** A job file's settings as yargs takes them: kebab-case flag name -> the value a flag would give. */
export type JobArgs = Record<string, string | number | boolean>;

type FlagName = keyof typeof exportFlags;
type FlagType = (typeof exportFlags)[FlagName]['type'];

/**
 * Flags holding comma-separated lists (their help says so: --rec-id, --prediction-id...): a job
 * file may give them as YAML/JSON lists, joined with commas.
 */
const LIST_FLAGS: ReadonlySet<string> = new Set(Object.entries(exportFlags).filter(([, o]) => /comma-separated/i.test(o.describe)).map(([k]) => k));

/**
 * Keys that would put the secret key in a file that gets committed, copied into ConfigMaps and
 * pasted into tickets (README, "Exit codes and guarantees", 7). `secret-key-file` (a path) is fine.
 */
const SECRET_KEY = /^(secret|secret-key|api-key|apikey|amplitude-secret-key|amplitude-api-key|key|password|token)$/;

const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const FLAGS = new Map<string, FlagType>(Object.entries(exportFlags).map(([k, o]) => [k, o.type]));

/** Reads and checks a job file; every problem in one line (exit 2). `shownAs` names it in messages. */
export function loadJobFile(path: string, shownAs = displayPath(path)): JobArgs {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw usageError(`cannot read job file ${shownAs}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  return parseJobFile(text, shownAs);
}

/**
 * Parses a YAML or JSON job file (JSON is YAML 1.2, so one parser reads both and reports both
 * the same way: by line and column, never quoting the file, which might hold a key by mistake).
 */
export function parseJobFile(text: string, name: string): JobArgs {
  const lines = new (yaml().LineCounter)();
  const doc = yaml().parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter: lines });
  const broken = doc.errors[0];
  if (broken) {
    const at = lines.linePos(broken.pos[0]);
    throw usageError(`${name}: not valid YAML or JSON at line ${at.line}, column ${at.col}: ${broken.message.split('\n')[0]}`);
  }
  const root = doc.contents;
  if (root === null || (yaml().isScalar(root) && root.value === null)) throw usageError(`${name}: the job file is empty (expected flag: value lines)`);
  if (!yaml().isMap(root)) throw usageError(`${name}: expected a mapping of flag: value, got ${kindOf(root)}`);

  const out: JobArgs = {};
  const problems: string[] = [];
  const given = new Map<string, string>();
  for (const pair of root.items) {
    const key = yaml().isScalar(pair.key) ? String(pair.key.value) : undefined;
    if (key === undefined) {
      problems.push(`keys must be flag names, got ${kindOf(pair.key as Node)}`);
      continue;
    }
    const flag = kebab(key);
    if ([key, flag].some((k) => SECRET_KEY.test(k.replace(/_/g, '-').toLowerCase()))) {
      problems.push(`"${key}" must not be in a job file (job files get committed and copied): give the secret key in env AMPLITUDE_SECRET_KEY or a file named by secret-key-file`);
      continue;
    }
    const type = FLAGS.get(flag);
    if (type === undefined) {
      const hint = suggest(key);
      problems.push(`unknown key "${key}"${hint ? ` (did you mean "${hint}"?)` : ''}`);
      continue;
    }
    const before = given.get(flag);
    if (before !== undefined) {
      problems.push(`"${key}" is given twice (also as "${before}")`);
      continue;
    }
    given.set(flag, key);
    const value = valueFor(flag, type, pair.value as Node | null);
    if (typeof value === 'string' && value.startsWith('\0')) problems.push(`"${key}" ${value.slice(1)}`);
    else out[flag] = value;
  }
  if (problems.length > 0) throw usageError(`${name}: ${problems.join('; ')}`);
  return out;
}

/** The value the flag would get on the command line, or '\0' + what is wrong with it. */
function valueFor(flag: string, type: FlagType, node: Node | null): string | number | boolean {
  const wrong = (expected: string) => `\0expects ${expected}, got ${kindOf(node)}`;
  if (yaml().isSeq(node) && LIST_FLAGS.has(flag)) {
    const items = node.items.map((i) => (yaml().isScalar(i) ? scalarText(i) : undefined));
    if (items.some((i) => i === undefined || i.includes(','))) return wrong('a list of plain values (or one comma-separated string)');
    return items.join(',');
  }
  if (!yaml().isScalar(node) || node.value === null || node.value === undefined) {
    return wrong(LIST_FLAGS.has(flag) ? 'a list or a comma-separated string' : type === 'string' ? 'a string' : `a ${type}`);
  }
  const v: unknown = node.value;
  switch (type) {
    case 'boolean':
      return typeof v === 'boolean' ? v : wrong('true or false');
    case 'number':
      return typeof v === 'number' ? v : wrong('a number');
    case 'string':
      return typeof v === 'string' || typeof v === 'number' ? scalarText(node)! : wrong('a string');
  }
}

/** A scalar as text; a plain number keeps its spelling (rec id `00123` stays `00123`, not 123). */
function scalarText(node: Node): string | undefined {
  if (!yaml().isScalar(node)) return undefined;
  if (typeof node.value === 'string') return node.value;
  if (typeof node.value === 'number') return typeof node.source === 'string' && node.source !== '' ? node.source : String(node.value);
  return undefined;
}

/**
 * Names a value's kind for messages; only short strings are quoted, so a pasted secret key
 * (32 characters for Amplitude) under a wrong key never reaches the error line.
 */
function kindOf(node: Node | null | undefined): string {
  if (node === null || node === undefined) return 'no value';
  if (yaml().isSeq(node)) return 'a list';
  if (yaml().isMap(node)) return 'a mapping';
  if (yaml().isScalar(node)) {
    const v: unknown = node.value;
    if (v === null) return 'no value';
    if (typeof v === 'string') return v.length <= 24 ? `the string "${v}"` : 'a string';
    if (typeof v === 'number' || typeof v === 'boolean') return `${typeof v} ${String(v)}`;
  }
  return 'something else';
}

/** The flag a mistyped key probably meant: `rec_idd` -> `rec-id`. */
export function suggest(key: string): string | undefined {
  const k = kebab(key).replace(/_/g, '-').toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(k.length / 4)) + 1;
  for (const flag of FLAGS.keys()) {
    const d = distance(k, flag);
    if (d < bestDistance) [best, bestDistance] = [flag, d];
  }
  return best;
}

/** Levenshtein distance, two rows. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    prev = row;
  }
  return prev[b.length]!;
}

/** The path as the user likely typed it: relative to the working directory when inside it. */
function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

/**
 * `--config PATH` (env AMP_EXPORT_CONFIG) on the export command. yargs resolves PATH against
 * the working directory and applies the file below the command line and the environment.
 * A thrown error becomes yargs' failure message, i.e. one line and exit 2 through cli.ts.
 */
export function withJobFile<T>(y: Argv<T>): Argv<T> {
  return y.config('config', 'YAML or JSON job file of export flags (kebab-case or camelCase keys); command line and AMP_EXPORT_* override it', (path: string) => loadJobFile(path)).group('config', 'Run:');
}
