/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And
 * Jitter"): sleep a random time in [0, min(cap, base * 2^n)), never less than Retry-After.
 */
export interface BackoffOptions {
  baseMs: number;
  capMs: number;
  random?: () => number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1000, capMs: 60_000 };

/**
 * The test suite's knob (README, "Development"): AMP_PROFILE_EXPORT_BACKOFF_MS sets the base in
 * ms and the cap scales with it (60x), so a run against a faulty emulator retries exactly as in
 * production, only sooner. Unset, empty or not a positive number: the product default.
 */
export const BACKOFF_ENV = 'AMP_PROFILE_EXPORT_BACKOFF_MS';

export function backoffFromEnv(env: NodeJS.ProcessEnv = process.env): BackoffOptions {
  const base = Number(env[BACKOFF_ENV]);
  if (!env[BACKOFF_ENV] || !(base > 0)) return DEFAULT_BACKOFF;
  return { baseMs: base, capMs: base * (DEFAULT_BACKOFF.capMs / DEFAULT_BACKOFF.baseMs) };
}

export function backoffMs(retry: number, o: BackoffOptions, retryAfterMs?: number): number {
  const ceiling = Math.min(o.capMs, o.baseMs * 2 ** retry);
  const jitter = Math.floor((o.random ?? Math.random)() * ceiling);
  return retryAfterMs === undefined ? jitter : Math.max(jitter, Math.min(retryAfterMs, o.capMs * 2));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', stop);
      resolve();
    }, ms);
    const stop = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', stop, { once: true });
  });
}
