/**
 * Fatal errors: the job cannot go on. Per-user failures are never thrown; they are values
 * (see pipeline/outcome.ts) written to the errors file and counted.
 * Only cli.ts turns an ExitError into an exit code and one line on stderr.
 */

/** The exit codes of the README ("Exit codes and guarantees"), one source of truth. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  auth: 3,
  partial: 4,
  unavailable: 5,
  sighup: 129,
  sigint: 130,
  sigterm: 143,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export type FatalCode =
  | 'usage' // a bad flag or value
  | 'input' // input missing, unreadable, not CSV, no id column
  | 'checkpoint' // checkpoint refused: other job, corrupt
  | 'output' // an output, errors or checkpoint location that cannot be written (missing bucket, access denied, unreachable)
  | 'api_url' // the API answered as if the URL were wrong (empty 404, 301)
  | 'auth' // 401: the key was refused
  | 'proxy' // the egress proxy cannot be reached or refused the tunnel (407, 403)
  | 'unavailable' // the API kept failing
  | 'storage' // a local file could not be written mid-run (disk full, I/O error): the checkpoint stands, a rerun resumes
  | 'interrupted'; // SIGINT / SIGTERM, after the checkpoint

const exitFor: Record<FatalCode, ExitCode> = {
  usage: ExitCode.usage,
  input: ExitCode.usage,
  checkpoint: ExitCode.usage,
  output: ExitCode.usage,
  api_url: ExitCode.usage,
  auth: ExitCode.auth,
  proxy: ExitCode.usage,
  unavailable: ExitCode.unavailable,
  storage: ExitCode.unavailable,
  interrupted: ExitCode.sigterm,
};

export class ExitError extends Error {
  readonly exitCode: ExitCode;
  constructor(
    readonly code: FatalCode,
    message: string,
    exitCode?: ExitCode,
  ) {
    super(message);
    this.name = 'ExitError';
    this.exitCode = exitCode ?? exitFor[code];
  }
}

/**
 * A stop signal (SIGTERM, SIGINT, SIGHUP) seen before the first request, while the state was
 * fetched or the night planned: the run ends there with the signal's exit code, nothing
 * requested and no output, errors file or checkpoint opened.
 */
export class StoppedEarly extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoppedEarly';
  }
}

export const usageError = (message: string) => new ExitError('usage', message);
export const inputError = (message: string) => new ExitError('input', message);
export const outputError = (message: string) => new ExitError('output', message);

/**
 * A file the run could not write after it started (ENOSPC, EIO, a filesystem remounted
 * read-only): named, since the system error alone ("ENOSPC ... write") does not say which.
 * Exit 5 like an API outage: what was checkpointed stands and the same command resumes.
 */
export function storageError(path: string, err: unknown): ExitError {
  if (err instanceof ExitError) return err;
  return new ExitError('storage', `cannot write ${path}: ${describe(err)}; what was checkpointed is kept: make room and rerun the same command to resume`);
}

/** A one-line description of any thrown value, for logs and the final line. */
export function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}
