import { isS3Url } from '../aws/s3url.js';
import { PRESET, PRESETS, type PresetKey, type PresetName } from './presets/presets.js';
import type { SplitLimits } from '../contracts/positions.js';

export type { SplitLimits };

/** What control-group recommendations (`is_control: true`) become in the output. */
export const CONTROL_MODES = ['keep', 'blank', 'drop'] as const;
export type ControlMode = (typeof CONTROL_MODES)[number];

/** An input column carried into the output, under its own name or another. */
export interface PassColumn {
  /** Header of the input column. */
  from: string;
  /** Header in the output. */
  as: string;
}


/** The options that shape the output for an email tool (README, "Email tool presets"). */
export interface EspOptions {
  /** null: the default layout (README, "Output"). */
  preset: PresetName | null;
  /** What identifies a user in a preset's file; null without a preset. */
  key: PresetKey | null;
  /** Input column holding the email address (a preset keyed by email reads it). @default 'email' */
  emailColumn: string;
  passthrough: PassColumn[];
  /** @default 'keep' */
  control: ControlMode;
  /** null: one output file. */
  split: SplitLimits | null;
}

/** The flags as yargs hands them over. */
export interface EspArgs {
  preset?: string;
  identifier?: string;
  emailColumn?: string;
  passthrough?: string;
  control?: string;
  splitRows?: number;
  splitBytes?: number;
}

export interface EspContext {
  format: 'csv' | 'jsonl';
  /** The output as given (path, s3:// URL, or `-`). */
  output: string;
  recIds: string[];
  ampProps: boolean;
  computations: boolean;
  compIds: string[];
}

/** `email,first_name:FirstName` -> [{from: email, as: email}, {from: first_name, as: FirstName}] */
export function parsePassthrough(s: string | undefined, problems: string[]): PassColumn[] {
  const out: PassColumn[] = [];
  for (const part of (s ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
    const at = part.indexOf(':');
    const from = (at < 0 ? part : part.slice(0, at)).trim();
    const as = (at < 0 ? part : part.slice(at + 1)).trim();
    if (!from || !as) problems.push(`--passthrough expects column or column:Header, got ${part}`);
    else out.push({ from, as });
  }
  return out;
}

/**
 * Checks the ESP options and fills in what a preset implies; problems are pushed (config.ts
 * reports them all in one line, exit 2). Runs before any file is opened.
 */
export function parseEspOptions(a: EspArgs, ctx: EspContext, problems: string[]): EspOptions {
  const need = (ok: boolean, msg: string) => {
    if (!ok) problems.push(msg);
  };
  let preset: PresetName | null = null;
  if (a.preset !== undefined) {
    if ((PRESETS as readonly string[]).includes(a.preset)) preset = a.preset as PresetName;
    else problems.push(`--preset expects ${PRESETS.join(', ')}, got ${a.preset}`);
  }
  const control = (a.control ?? 'keep') as ControlMode;
  need(CONTROL_MODES.includes(control), `--control expects keep, blank or drop, got ${a.control}`);
  const emailColumn = a.emailColumn ?? 'email';
  need(emailColumn.trim() !== '', '--email-column must not be empty');
  const passthrough = parsePassthrough(a.passthrough, problems);

  let key: PresetKey | null = null;
  if (preset) {
    const p = PRESET[preset];
    key = p.defaultKey;
    if (a.identifier !== undefined) {
      const allowed = Object.keys(p.keys) as PresetKey[];
      if (allowed.includes(a.identifier as PresetKey)) key = a.identifier as PresetKey;
      else problems.push(`--identifier ${a.identifier}: ${preset} imports users by ${allowed.join(' or ')}`);
    }
    need(ctx.format === 'csv', `--preset ${preset} writes CSV, but the output is JSONL (--format or the .jsonl extension)`);
    // A JSON object in a cell: none of the four imports it from a CSV (presets.ts).
    for (const [flag, on] of [['--amp-props', ctx.ampProps], ['--computations', ctx.computations], ['--comp-id', ctx.compIds.length > 0]] as const) {
      need(!on, `--preset ${preset} cannot take ${flag}: it makes a JSON cell, which ${preset} does not import from a CSV`);
    }
  } else {
    need(a.identifier === undefined, '--identifier needs --preset');
  }

  return { preset, key, emailColumn, passthrough, control, split: splitLimits(a, ctx, preset, problems) };
}

function splitLimits(a: EspArgs, ctx: EspContext, preset: PresetName | null, problems: string[]): SplitLimits | null {
  for (const [flag, v] of [['split-rows', a.splitRows], ['split-bytes', a.splitBytes]] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v >= 0)) problems.push(`--${flag} expects a whole number of at least 0 (0: no limit), got ${Number.isNaN(v) ? 'something that is not a number' : v}`);
  }
  const local = ctx.output !== '-' && !isS3Url(ctx.output);
  const explicit = (a.splitRows ?? 0) > 0 || (a.splitBytes ?? 0) > 0;
  if (explicit && !local) {
    // The split writer rotates local files; S3 and stdout would be half-working.
    problems.push(`--split-rows/--split-bytes write numbered local files; ${ctx.output === '-' ? 'stdout' : 's3:// output'} cannot be split`);
    return null;
  }
  // A preset's documented limit is the default, for local files only (see README).
  const limit = preset && local ? PRESET[preset].limit : {};
  const rows = (a.splitRows ?? limit.rows ?? 0) || null;
  const bytes = (a.splitBytes ?? limit.bytes ?? 0) || null;
  if (rows === null && bytes === null) return null;
  // A user's rows never straddle two files: a file must hold the most rows one user can have.
  const perUser = preset || ctx.format === 'jsonl' ? 1 : Math.max(1, ctx.recIds.length);
  if (rows !== null && rows < perUser) problems.push(`--split-rows ${rows} is less than the ${perUser} rows a user can have (one per --rec-id), and a user's rows never straddle two files`);
  return { rows, bytes };
}

/** What a checkpoint must match (guarantee 4): null when every option is at its default. */
export function espFingerprint(e: EspOptions): Record<string, unknown> | null {
  if (!e.preset && e.passthrough.length === 0 && e.control === 'keep' && !e.split) return null;
  return { preset: e.preset, key: e.key, emailColumn: e.key === 'email' ? e.emailColumn : null, passthrough: e.passthrough, control: e.control, split: e.split };
}
