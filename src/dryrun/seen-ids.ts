import { fnv1a32, mix32 } from '../hash.js';

/** Load factor at which the table doubles: linear probing stays short below it. */
const MAX_LOAD = 0.75;
/** Distinct starting values, so that a user_id and a device_id with the same text differ. */
const FNV_DEVICE_BASIS = fnv1a32('device_id\0');
const MURMUR_SEED = { user: 0x5bd1e995, device: 0x27d4eb2f } as const;

/**
 * The set of ids seen so far, for counting duplicates in a dry run of tens of millions of users.
 *
 * An id is kept as a 64-bit fingerprint, two independent 32-bit hashes of its text (FNV-1a of
 * the UTF-8 bytes and MurmurHash3 of the UTF-16 code units), in an open-addressing table of
 * two Uint32Arrays: 8 bytes a slot, 37-75 % full, so 11-21 bytes a user (128 MiB for 10 million,
 * plus the 64 MiB old table while it doubles at 6.3 million; a 10-million-user dry run peaked
 * at 360 MB RSS, 200 MB of it the CSV reading alone). Measured on Node 20 for 10 million ids, a
 * Set of the id strings takes 1.2 GB and a Set<number> of 52-bit keys 729 MB (every key a heap
 * number); a Set also stops at 2^24 entries ("Set maximum size exceeded").
 *
 * Two different ids share a fingerprint with probability 2^-64 per pair: over n ids about
 * n²/2^65 false duplicates are expected, 2.7e-6 for 10 million. Negligible for a count that
 * only informs; nothing is dropped because of it.
 */
export class SeenIds {
  private hi: Uint32Array;
  private lo: Uint32Array;
  private mask: number;
  private count = 0;

  constructor(initialSlots = 1 << 16) {
    const slots = 2 ** Math.ceil(Math.log2(Math.max(16, initialSlots)));
    this.hi = new Uint32Array(slots);
    this.lo = new Uint32Array(slots);
    this.mask = slots - 1;
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held by the table. */
  get bytes(): number {
    return this.hi.byteLength + this.lo.byteLength;
  }

  /** Adds the id a request would carry; false when it was already there (a duplicate). */
  add(id: string, kind: 'user' | 'device'): boolean {
    const hi = kind === 'user' ? fnv1a32(id) : fnv1a32(id, FNV_DEVICE_BASIS);
    // (0, 0) marks an empty slot; the one fingerprint that would collide with it moves to (0, 1).
    const lo = murmur32(id, MURMUR_SEED[kind]) || (hi === 0 ? 1 : 0);
    if (!this.insert(hi, lo)) return false;
    if (++this.count > this.hi.length * MAX_LOAD) this.grow();
    return true;
  }

  private insert(hi: number, lo: number): boolean {
    for (let i = slotOf(hi, lo) & this.mask; ; i = (i + 1) & this.mask) {
      const h = this.hi[i]!;
      const l = this.lo[i]!;
      if (h === 0 && l === 0) {
        this.hi[i] = hi;
        this.lo[i] = lo;
        return true;
      }
      if (h === hi && l === lo) return false;
    }
  }

  private grow(): void {
    const oldHi = this.hi;
    const oldLo = this.lo;
    this.hi = new Uint32Array(oldHi.length * 2);
    this.lo = new Uint32Array(oldLo.length * 2);
    this.mask = this.hi.length - 1;
    for (let i = 0; i < oldHi.length; i++) {
      if (oldHi[i] !== 0 || oldLo[i] !== 0) this.insert(oldHi[i]!, oldLo[i]!);
    }
  }
}

/** The home slot: a mix of both halves, so that a table of any size uses all of them. */
const slotOf = (hi: number, lo: number) => mix32(hi ^ Math.imul(lo, 0x9e3779b1));

/** MurmurHash3 x86_32 over the UTF-16 code units of `s` (two per block). */
export function murmur32(s: string, seed: number): number {
  let h = seed >>> 0;
  const n = s.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    h ^= scramble(s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16));
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < n) h ^= scramble(s.charCodeAt(i));
  return mix32(h ^ (n * 2));
}

function scramble(k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, 0x1b873593);
}
