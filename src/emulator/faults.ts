/**
 * Seeded fault injection. Whether a request fails, and how, depends only on (seed, requested
 * id, how many times that id was asked before), never on arrival order: the same seed gives
 * the same user the same faults on the same attempt whatever the client's concurrency.
 */
import { fnv1a32, mix32 } from '../hash.js';

export const FAULT_KINDS = ['500', '503', 'drop', 'slow', 'truncate', '429'] as const;
/**
 * `500`/`503`: that status with a short text body. `drop`: the socket is destroyed without an
 * answer. `slow`: the normal answer after `slowMs`. `truncate`: status 200 whose JSON body is
 * cut in half (Content-Length matches what is sent, so only the JSON is broken). `429`: the
 * throttle answer with `Retry-After: retryAfterSeconds`.
 */
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultOptions {
  /** Probability 0..1 that a request gets a fault. */
  rate: number;
  /** Kinds to pick from, uniformly. */
  kinds: FaultKind[];
  seed: number;
  slowMs: number;
  /**
   * Sent as `Retry-After`. HTTP allows whole seconds only; a fraction (e.g. 0.05) is sent as
   * written, which the exporter reads as such: tests use it to keep the wait short.
   */
  retryAfterSeconds: number;
}

export function isFaultKind(s: string): s is FaultKind {
  return (FAULT_KINDS as readonly string[]).includes(s);
}

/** Checks options given programmatically; the message says what was expected and got. */
export function checkFaultOptions(f: FaultOptions): void {
  const bad = (what: string, got: unknown): never => {
    throw new RangeError(`faults.${what}, got ${JSON.stringify(got)}`);
  };
  if (!(f.rate >= 0 && f.rate <= 1)) bad('rate: expected a number from 0 to 1', f.rate);
  if (f.rate > 0 && f.kinds.length === 0) bad('kinds: expected at least one kind', f.kinds);
  for (const k of f.kinds) if (!isFaultKind(k)) bad(`kinds: expected ${FAULT_KINDS.join(', ')}`, k);
  if (!Number.isSafeInteger(f.seed)) bad('seed: expected an integer', f.seed);
  if (!(f.slowMs >= 0)) bad('slowMs: expected a number >= 0', f.slowMs);
  if (!(f.retryAfterSeconds >= 0 && Number.isFinite(f.retryAfterSeconds))) bad('retryAfterSeconds: expected a number >= 0', f.retryAfterSeconds);
}

/** Decides faults for one configuration; the per-id attempt counts live as long as it does. */
export class FaultInjector {
  private readonly attempts = new Map<string, number>();
  private readonly seedHash: number;
  private readonly threshold: number;

  constructor(readonly options: FaultOptions) {
    checkFaultOptions(options);
    this.seedHash = mix32(0x811c9dc5 ^ mix32(options.seed >>> 0) ^ Math.floor(options.seed / 2 ** 32));
    // `hash < threshold` has probability rate; rate 1 always faults, rate 0 never does.
    this.threshold = options.rate * 2 ** 32;
  }

  /** The fault for this request for `id` (user_id, else device_id, '' for none), or null. */
  decide(id: string): FaultKind | null {
    const attempt = this.attempts.get(id) ?? 0;
    this.attempts.set(id, attempt + 1);
    const h = mix32(fnv1a32(id, this.seedHash) ^ Math.imul(attempt + 1, 0x9e3779b9));
    if (h >= this.threshold) return null;
    const kinds = this.options.kinds;
    return kinds[mix32(h ^ 0x27d4eb2f) % kinds.length] ?? null;
  }
}
