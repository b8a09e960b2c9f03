import { it } from 'vitest';
import { Readable } from 'node:stream';
import { openCsvSource } from '../../src/sources/csv.js';
it('x', async () => {
  const cases = [
    'user_id\nu1\nu2\n"a"b\nu4\nu5\n',
    'user_id\nu1\nu2\na"b\nu4\nu5\n',
    'user_id\nu1\nu2\n"a" \nu4\nu5\n',
  ];
  for (const c of cases) {
    const buf = Buffer.from(c);
    for (const chunks of [[buf], [...buf].map((b) => Buffer.from([b]))]) {
    const src = await openCsvSource(Readable.from(chunks), { userIdColumn: 'user_id', deviceIdColumn: 'device_id', name: 't' });
    const out = [];
    for await (const r of src.rows) out.push(`${r.kind}:${r.line}:${r.user_id}:${'reason' in r ? r.reason : ''}:${r.end}`);
    console.log(JSON.stringify(c), chunks.length, out.join(' | '));
    }
  }
});
