import { readFileSync, statSync } from 'node:fs';
import { usageError } from './errors.js';

/**
 * The project's secret key. It is read once, kept in this closure-like holder, and scrubbed
 * from every line the logger writes (log.ts): guarantee 7 of the README ("Exit codes and guarantees").
 */
export interface SecretSource {
  env?: string | undefined;
  file?: string | undefined;
}

export interface LoadedSecret {
  key: string;
  /** Set when the key file can be read by group or others. */
  warning?: string;
}

export function loadSecret(src: SecretSource): LoadedSecret {
  if (src.file !== undefined) {
    let text: string;
    let mode: number;
    try {
      text = readFileSync(src.file, 'utf8');
      mode = statSync(src.file).mode;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      throw usageError(`cannot read --secret-key-file ${src.file}: ${code}`);
    }
    const key = text.trim();
    if (!key) throw usageError(`--secret-key-file ${src.file} is empty`);
    const loaded: LoadedSecret = { key };
    if (mode & 0o044) {
      loaded.warning = `--secret-key-file ${src.file} is readable by others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`;
    }
    return loaded;
  }
  const key = src.env?.trim();
  if (!key) {
    throw usageError('no secret key: set AMPLITUDE_SECRET_KEY or pass --secret-key-file PATH');
  }
  return { key };
}

/** Replaces every occurrence of the secret in a string (a safety net under the logger). */
export function scrubber(secret: string | undefined): (text: string) => string {
  if (!secret || secret.length < 4) return (t) => t;
  return (text) => (text.includes(secret) ? text.split(secret).join('[REDACTED]') : text);
}
