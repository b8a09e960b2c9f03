import { describe, expect, it } from 'vitest';
import { Joiner } from '../../src/merge/join.js';

/** Feeds each input cut into pieces of `step` bytes (so a header or a UTF-8 character may be split). */
function join(format: 'csv' | 'jsonl', inputs: Record<string, string>, step: number): { text: string; lines: number } {
  const j = new Joiner(format);
  const out: Buffer[] = [];
  for (const [name, text] of Object.entries(inputs)) {
    j.start(name);
    const buf = Buffer.from(text);
    for (let i = 0; i < buf.length; i += step) out.push(...j.chunk(buf.subarray(i, i + step)));
    out.push(...j.end());
  }
  return { text: Buffer.concat(out).toString('utf8'), lines: j.lines };
}

describe('Joiner (merge)', () => {
  const a = 'user_id,name\nu1,Zoë\nu2,Łukasz\n';
  const b = 'user_id,name\nu3,Ærø\n';
  for (const step of [1, 2, 3, 7, 1 << 20]) {
    it(`keeps the first header once and every row, whatever the chunk size (${step})`, () => {
      expect(join('csv', { a, b }, step)).toEqual({ text: 'user_id,name\nu1,Zoë\nu2,Łukasz\nu3,Ærø\n', lines: 3 });
    });
  }

  it('ends a last line without a line feed, so it cannot run into the next file', () => {
    expect(join('csv', { a: 'h\nu1', b: 'h\nu2' }, 4)).toEqual({ text: 'h\nu1\nu2\n', lines: 2 });
    expect(join('jsonl', { a: '{"a":1}', b: '{"b":2}\n' }, 3)).toEqual({ text: '{"a":1}\n{"b":2}\n', lines: 2 });
  });

  it('takes a header-only file (with or without a line feed) as no rows', () => {
    expect(join('csv', { a: 'h', b: 'h\n', c: 'h\nu1\n' }, 5)).toEqual({ text: 'h\nu1\n', lines: 1 });
  });

  it('refuses another header (CRLF counts) and an empty CSV, naming the file', () => {
    expect(() => join('csv', { a: 'h,x\nu1,1\n', b: 'h,x\r\nu2,2\r\n' }, 2)).toThrow(/b has another header than a \(h,x\)/);
    expect(() => join('csv', { a: 'h\nu1\n', b: '' }, 2)).toThrow(/b is empty \(no header line\)/);
  });

  it('concatenates JSONL, empty inputs included', () => {
    expect(join('jsonl', { a: '{"a":1}\n', b: '', c: '{"c":3}\n' }, 1)).toEqual({ text: '{"a":1}\n{"c":3}\n', lines: 2 });
  });
});
