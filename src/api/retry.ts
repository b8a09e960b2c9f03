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
