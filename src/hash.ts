/** Cheap deterministic hashing: shard assignment (README, "Several processes": FNV-1a 32-bit), and the emulator's synthetic profiles, shuffles and fault decisions. */

/** FNV-1a 32-bit over the UTF-8 bytes of `s` (no Buffer); `h` continues an earlier hash. */
export function fnv1a32(s: string, h = 0x811c9dc5): number {
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      h = Math.imul(h ^ c, 0x01000193);
      continue;
    }
    if (c >= 0xd800 && c < 0xe000) {
      const d = s.charCodeAt(i + 1); // NaN past the end
      if (c < 0xdc00 && d >= 0xdc00 && d < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      } else {
        c = 0xfffd; // a lone surrogate, as TextEncoder encodes it
      }
    }
    if (c < 0x800) {
      h = Math.imul(h ^ (0xc0 | (c >> 6)), 0x01000193);
    } else {
      if (c < 0x10000) {
        h = Math.imul(h ^ (0xe0 | (c >> 12)), 0x01000193);
      } else {
        h = Math.imul(h ^ (0xf0 | (c >> 18)), 0x01000193);
        h = Math.imul(h ^ (0x80 | ((c >> 12) & 63)), 0x01000193);
      }
      h = Math.imul(h ^ (0x80 | ((c >> 6) & 63)), 0x01000193);
    }
    h = Math.imul(h ^ (0x80 | (c & 63)), 0x01000193);
  }
  return h >>> 0;
}

/** MurmurHash3's finaliser: spreads every input bit over the 32-bit result. */
export function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}
