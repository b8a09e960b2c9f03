import { describe, expect, it } from 'vitest';
import { Utf8Blocks } from '../../src/sinks/utf8-blocks.js';

/** What a sink hands on must be exactly the UTF-8 of what it was given, whatever the cuts. */
describe('Utf8Blocks', () => {
  const texts = (): string[] => {
    const out: string[] = [];
    // Rows of every width around the 64 KiB block, with 2-, 3- and 4-byte characters and a
    // lone surrogate (encoded as U+FFFD, 3 bytes, as Buffer.from does) where a block ends.
    const pieces = ['a', 'é', '€', '😀', '\uD800', 'x,y\n'];
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
    for (let i = 0; i < 400; i++) {
      const len = i % 50 === 0 ? 70_000 + (next() % 5000) : next() % 900;
      let s = '';
      while (s.length < len) s += pieces[next() % pieces.length];
      out.push(s);
    }
    return out;
  };

  it('hands on the bytes Buffer.from gives for the texts joined, and counts them exactly', () => {
    const all = texts();
    const b = new Utf8Blocks();
    const got: Buffer[] = [];
    let counted = 0;
    all.forEach((t, i) => {
      const n = b.write(t);
      expect(n).toBe(Buffer.byteLength(t));
      counted += n;
      // Taken at uneven moments, as a sink drains and syncs.
      if (i % 37 === 0) got.push(...b.take());
    });
    expect(b.bytes).toBe(counted - got.reduce((s, x) => s + x.length, 0));
    got.push(...b.take());
    expect(b.bytes).toBe(0);
    expect(Buffer.concat(got).equals(Buffer.from(all.join('')))).toBe(true);
    expect(counted).toBe(Buffer.byteLength(all.join('')));
  });

  it('takes nothing when nothing was written, and an empty text adds nothing', () => {
    const b = new Utf8Blocks();
    expect(b.take()).toEqual([]);
    expect(b.write('')).toBe(0);
    expect(b.take()).toEqual([]);
  });
});
