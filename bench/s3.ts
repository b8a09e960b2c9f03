/**
 * Suite `s3`: the same export to an S3 object (checkpoint and errors on S3 too) vs to a local
 * file, at no rate limit, best of three each, interleaved (target ≥ 90 %): the difference is a
 * few percent, about what load from anything else on a 2-core machine moves one run. S3 is fauxqs, the
 * in-process S3 server of the tests, started here in the bench process on 127.0.0.1 (a
 * devDependency: `npm run bench` runs from a development checkout).
 */
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { join } from 'node:path';
import type { EmulatorProcess } from './emulator-process.js';
import { runExportProcess } from './export-process.js';
import { count, megabytes, percent, type Row } from './table.js';

/** What this suite uses of run.ts's Bench. */
export interface S3Bench {
  readonly tmp: string;
  readonly sizes: { throughput: number };
  readonly notes: string[];
  row(r: Row): void;
  users(n: number): Promise<string>;
  export(api: EmulatorProcess, o: { users: number; output: 'file'; label: string }): Promise<{ usersPerSec: number }>;
}

const TARGET = 0.9;
const ROUNDS = 3;
const BUCKET = 'bench';
/** The flags of Bench.export, so that both sides do the same work. */
const FLAGS = ['--rate-limit', '0', '--rate-interval', '60', '--concurrency', '16', '--rec-id', 'homepage', '--prediction-id', 'p-churn'];

const say = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

export async function s3Suite(b: S3Bench, api: EmulatorProcess, cli: string): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { startFauxqs } = await import('fauxqs');
  const server = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false });
  const endpoint = `http://127.0.0.1:${server.port}`;
  const creds = { AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench' };
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
  server.createBucket(BUCKET);
  try {
    const n = b.sizes.throughput;
    let file = 0;
    let s3 = 0;
    let rss: number | null = null;
    for (let round = 0; round < ROUNDS; round++) {
      file = Math.max(file, (await b.export(api, { users: n, output: 'file', label: 's3-baseline-file' })).usersPerSec);
      const m = await s3Run(b, api, cli, client, { ...creds, AWS_ENDPOINT_URL_S3: endpoint, AWS_REGION: 'us-east-1' }, n, round);
      s3 = Math.max(s3, m.usersPerSec);
      if (m.peakRssKib !== null) rss = Math.max(rss ?? 0, m.peakRssKib);
    }
    const ratio = s3 / file;
    b.row({ suite: 's3', measure: 'users/s, file output + checkpoint', value: file, unit: 'users/s', display: count(file) });
    b.row({ suite: 's3', measure: 'users/s, S3 output + checkpoint on S3', value: s3, unit: 'users/s', display: count(s3) });
    b.row({ suite: 's3', measure: `S3 / file (best of ${ROUNDS})`, value: ratio, unit: 'ratio', display: percent(ratio), target: '≥ 90 %', ok: ratio >= TARGET });
    if (rss !== null) b.row({ suite: 's3', measure: `peak RSS, S3 output (${count(n)} users)`, value: rss * 1024, unit: 'bytes', display: megabytes(rss) });
  } finally {
    client.destroy();
    await server.stop();
  }
}

async function s3Run(
  b: S3Bench,
  api: EmulatorProcess,
  cli: string,
  client: S3Client,
  s3Env: Record<string, string>,
  n: number,
  round: number,
): Promise<{ usersPerSec: number; peakRssKib: number | null }> {
  const key = `run-${round}/out.csv`;
  const env: NodeJS.ProcessEnv = { AMPLITUDE_SECRET_KEY: 'demo-secret-key', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...s3Env };
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AMP_EXPORT_') && !k.startsWith('AWS_') && !(k in env)) env[k] = v;
  say(`s3-${round}: export ${count(n)} users to s3://${BUCKET}/${key} (checkpoint and errors on S3)`);
  const r = await runExportProcess({
    cli,
    // 5 MiB parts: a part holds between --s3-part-size and twice that, and fauxqs refuses
    // bodies over 11 MiB (real S3 takes up to 5 GiB); at ~3 MB/s of output 8 MiB parts overran it.
    args: ['--input', await b.users(n), '--output', `s3://${BUCKET}/${key}`, '--s3-path-style', '--s3-part-size', '5', '--api-url', api.url, ...FLAGS],
    cwd: b.tmp,
    env,
    timeFile: join(b.tmp, `s3-${round}.time`),
  });
  if (r.code !== 0) throw new Error(`S3 export exited with code ${r.code ?? r.signal}: ${r.stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 600)}`);
  const usersPerSec = (n * 1000) / r.wallMs;
  say(`s3-${round}: ${(r.wallMs / 1000).toFixed(1)} s, ${count(usersPerSec)} users/s`);
  // What came out must be the export: every user, and no segment left behind.
  const body = Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToByteArray());
  let lines = 0;
  for (let i = body.indexOf(10); i !== -1; i = body.indexOf(10, i + 1)) lines++;
  if (lines !== n + 1) b.notes.push(`s3-${round}: expected ${count(n + 1)} lines in the object, got ${count(lines)}`);
  const left = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${key}.parts/` }));
  if ((left.KeyCount ?? 0) > 0) b.notes.push(`s3-${round}: ${left.KeyCount} segment objects left behind`);
  return { usersPerSec, peakRssKib: r.peakRssKib };
}
