/**
 * `npm run bench [-- --quick] [-- --only throughput,rate]`: measures the real CLI
 * (`node dist/cli.js export ...` as a child process) against the emulator in its own process,
 * prints one table at the end and writes it to out/bench.json and out/bench.md.
 *
 * A benchmark measures; it does not fail CI: the exit code is 0 when targets are missed and
 * non-zero only when something crashed (2 for a bad flag).
 *
 * Suites:
 * - throughput: export users/s vs a bare undici loop with the same requests (target ≥ 70 %).
 * - checkpoint: the same export with its checkpoint (file output) vs without (stdout), best of
 *   two each (target ≥ 95 %).
 * - memory: peak RSS at two sizes (target < 200 MB, and flat).
 * - rate: a throttling emulator and a scaled limit (1000 per 10 s): share of the limit reached
 *   (≥ 99 %), most requests in any window (≤ 1000) and 429s (0) — guarantee 5 of the README ("Exit codes and guarantees").
 * - s3: S3 output (fauxqs) vs file output at no rate limit, best of three each (target ≥ 90 %).
 * - shared: 1, 2 and 3 processes sharing one Redis limiter of 20 per 2 s against a throttling
 *   emulator: combined req/s, the most requests in any 2 s window (≤ 20), 429s (0).
 * - rates: 200, 2,000 and 10,000/s as per-minute limits, local and 3 processes through Redis:
 *   share reached, most in any 60 s and 1 s window, 429s; 1,000,000/s vs no limit. bench/rates.ts.
 * - refresh: --refresh-budget over 1,000,000 users and a state of as many (built directly in
 *   SQLite): planning time (≤ 15 s), start to first request, peak RSS (flat), and the share of a
 *   night refreshing 100,000 that the 900,000 carried rows cost (≤ 20 %). bench/refresh.ts.
 */
import { createReadStream, existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCeilingProcess, type CeilingOptions } from './ceiling.js';
import { killTracked } from './children.js';
import { startEmulatorProcess, type EmulatorProcess } from './emulator-process.js';
import { runExportProcess } from './export-process.js';
import { count, megabytes, percent, renderMarkdown, renderText, type Row } from './table.js';
import { s3Suite } from './s3.js';
import { refreshSuite } from './refresh.js';
import { ratesSuite } from './rates.js';
import { hasRedis, sharedSuite } from './shared.js';
import { SHIPPED_NODE_OPTIONS } from '../src/shipped.js';
import { writeUsersCsv } from './users.js';

const HERE = dirname(fileURLToPath(import.meta.url)); // bench/, run with tsx
const CLI = join(HERE, '..', 'dist', 'cli.js');
const OUT_DIR = join(HERE, '..', 'out');

const SUITES = ['throughput', 'checkpoint', 'memory', 'rate', 's3', 'shared', 'rates', 'refresh'] as const;
type Suite = (typeof SUITES)[number];

interface Sizes {
  throughput: number;
  memory: [number, number];
  rateUsers: number;
  /** Requests sent to a fresh emulator before anything is measured (its JIT warms up). */
  warmup: number;
  /** The refresh suite: users of the input and of the state, and those a night refreshes. */
  refresh: { audience: number; refreshed: number };
}
const FULL: Sizes = { throughput: 100_000, memory: [100_000, 1_000_000], rateUsers: 3_000, warmup: 5_000, refresh: { audience: 1_000_000, refreshed: 100_000 } };
const QUICK: Sizes = { throughput: 20_000, memory: [20_000, 100_000], rateUsers: 1_500, warmup: 2_000, refresh: { audience: 100_000, refreshed: 10_000 } };

const SECRET = 'demo-secret-key';
const CONCURRENCY = 16;
const REC_ID = 'homepage';
const PREDICTION_ID = 'p-churn';
/** The rate suite's limit: the default 600/60 s scaled to 1000/10 s so a run takes 30 s. */
const RATE = { limit: 1000, intervalS: 10 };

const TARGET = {
  ceilingRatio: 0.7,
  checkpointRatio: 0.95,
  peakRssBytes: 200e6,
  /** "Flat": the larger run's peak RSS at most this much above the smaller run's. */
  rssGrowth: 0.2,
  rateShare: 0.99,
};

interface Options {
  quick: boolean;
  only: Suite[];
}

class UsageError extends Error {}

function parseArgs(argv: string[]): Options {
  const o: Options = { quick: false, only: [...SUITES] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') o.quick = true;
    else if (a === '--only' || a.startsWith('--only=')) {
      const v = a === '--only' ? argv[++i] : a.slice('--only='.length);
      if (!v) throw new UsageError(`--only expects a suite name (${SUITES.join(', ')})`);
      const names = v.split(',').map((s) => s.trim()).filter(Boolean);
      const bad = names.filter((n) => !(SUITES as readonly string[]).includes(n));
      if (bad.length > 0 || names.length === 0) throw new UsageError(`--only expects one or more of ${SUITES.join(', ')}, got ${v}`);
      o.only = SUITES.filter((s) => names.includes(s));
    } else if (a === '--help' || a === '-h') {
      throw new UsageError(`usage: npm run bench -- [--quick] [--only ${SUITES.join('|')}[,...]]`);
    } else throw new UsageError(`unknown argument ${a} (expected --quick or --only NAME)`);
  }
  return o;
}

const say = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

/** What one export run measured. */
interface Measured {
  users: number;
  wallMs: number;
  usersPerSec: number;
  peakRssKib: number | null;
  /** CPU (user + system) of the export process per user, µs: less sensitive to other load than wall time. */
  cpuMicrosPerUser: number | null;
  /** Requests the emulator received during the run, and how many it answered 200. */
  requests: number;
  ok200: number;
  /** Lines in the output (header included): users + 1 with one rec id. */
  outputLines: number;
}

class Bench {
  readonly rows: Row[] = [];
  readonly notes: string[] = [];
  readonly details: Record<string, unknown> = {};
  /** Every export run, for bench.json. */
  readonly runLog: unknown[] = [];
  private readonly usersFiles = new Map<number, string>();
  private runs = 0;

  constructor(
    readonly tmp: string,
    readonly sizes: Sizes,
  ) {}

  row(r: Row): void {
    this.rows.push(r);
  }

  async users(n: number): Promise<string> {
    let path = this.usersFiles.get(n);
    if (!path) {
      path = join(this.tmp, `users-${n}.csv`);
      await writeUsersCsv(path, n);
      this.usersFiles.set(n, path);
    }
    return path;
  }

  /**
   * One export of `users` users against `api`, to a file (checkpoint on) or stdout (off).
   * `record: false` keeps a warm-up run out of bench.json.
   */
  async export(
    api: EmulatorProcess,
    o: { users: number; output: 'file' | 'stdout'; label: string; rate?: { limit: number; intervalS: number }; record?: boolean; nodeOptions?: string },
  ): Promise<Measured> {
    const input = await this.users(o.users);
    const run = `${o.label}-${++this.runs}`;
    const dir = join(this.tmp, run);
    await mkdir(dir);
    const outFile = join(dir, 'out.csv');
    const args = [
      '--input', input,
      '--output', o.output === 'file' ? outFile : '-',
      '--api-url', api.url,
      '--rate-limit', String(o.rate?.limit ?? 0),
      '--rate-interval', String(o.rate?.intervalS ?? 60),
      '--concurrency', String(CONCURRENCY),
      '--rec-id', REC_ID,
      '--prediction-id', PREDICTION_ID,
    ];
    const env: NodeJS.ProcessEnv = { AMPLITUDE_SECRET_KEY: SECRET };
    // AMP_EXPORT_* would silently change the flags under test.
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AMP_EXPORT_') && k !== 'AMPLITUDE_SECRET_KEY') env[k] = v;
    if (o.nodeOptions) env.NODE_OPTIONS = o.nodeOptions;

    const before = await api.stats();
    say(`${run}: export ${count(o.users)} users, ${o.output === 'file' ? 'file output + checkpoint' : 'stdout, no checkpoint'}${o.rate ? `, rate ${o.rate.limit}/${o.rate.intervalS} s` : ''}`);
    const r = await runExportProcess({
      cli: CLI,
      args,
      cwd: dir, // with --output -, the errors file defaults to ./amp-profile-export.errors.csv
      env,
      timeFile: join(this.tmp, `${run}.time`),
      ...(o.output === 'stdout' ? { stdoutFile: outFile } : {}),
    });
    const after = await api.stats();
    if (r.code !== 0) {
      throw new Error(`export ${run} exited with code ${r.code ?? r.signal}: ${r.stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 600)}`);
    }
    const m: Measured = {
      users: o.users,
      wallMs: r.wallMs,
      usersPerSec: (o.users * 1000) / r.wallMs,
      peakRssKib: r.peakRssKib,
      cpuMicrosPerUser: r.cpuSeconds === null ? null : (r.cpuSeconds * 1e6) / o.users,
      requests: after.requests - before.requests,
      ok200: (after.byStatus['200'] ?? 0) - (before.byStatus['200'] ?? 0),
      outputLines: await countLines(outFile),
    };
    const errorsFile = join(dir, o.output === 'file' ? 'out.csv.errors.csv' : 'amp-profile-export.errors.csv');
    if (existsSync(errorsFile)) this.notes.push(`${run}: ${count((await countLines(errorsFile)) - 1)} users in the errors file`);
    if (m.outputLines !== o.users + 1) this.notes.push(`${run}: expected ${count(o.users + 1)} output lines, got ${count(m.outputLines)}`);
    if (m.ok200 < o.users) this.notes.push(`${run}: the emulator answered 200 to ${count(m.ok200)} of ${count(o.users)} users`);
    say(`${run}: ${(r.wallMs / 1000).toFixed(1)} s, ${count(m.usersPerSec)} users/s, peak RSS ${r.peakRssKib === null ? '?' : megabytes(r.peakRssKib)} (${r.rssSource})`);
    if (o.record !== false) this.runLog.push({ run, output: o.output, rate: o.rate ?? null, rssSource: r.rssSource, ...m });
    await rm(dir, { recursive: true, force: true });
    return m;
  }

  async ceiling(api: EmulatorProcess, requests: number) {
    const o: CeilingOptions = { origin: api.url, requests, connections: CONCURRENCY, recIds: [REC_ID], predictionIds: [PREDICTION_ID] };
    return runCeilingProcess(o, SECRET);
  }
}

async function countLines(path: string): Promise<number> {
  let n = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) n++;
  }
  return n;
}

async function throughput(b: Bench, api: EmulatorProcess): Promise<void> {
  const n = b.sizes.throughput;
  const m = await b.export(api, { users: n, output: 'file', label: 'throughput' });
  say(`throughput: bare undici loop, ${count(n)} requests`);
  const c = await b.ceiling(api, n);
  say(`throughput: bare loop ${count(c.reqPerSec)} req/s (${(c.ms / 1000).toFixed(1)} s)`);
  if ((c.byStatus['200'] ?? 0) !== n) b.notes.push(`bare loop: statuses ${JSON.stringify(c.byStatus)}`);
  b.details['ceiling'] = c;
  const ratio = m.usersPerSec / c.reqPerSec;
  b.row({ suite: 'throughput', measure: `export users/s (${count(n)} users)`, value: m.usersPerSec, unit: 'users/s', display: count(m.usersPerSec) });
  b.row({ suite: 'throughput', measure: 'bare undici loop req/s', value: c.reqPerSec, unit: 'req/s', display: count(c.reqPerSec) });
  if (m.cpuMicrosPerUser !== null) {
    b.row({ suite: 'throughput', measure: 'export CPU per user (whole process)', value: m.cpuMicrosPerUser, unit: 'µs', display: `${m.cpuMicrosPerUser.toFixed(0)} µs` });
  }
  b.row({ suite: 'throughput', measure: 'bare loop CPU per request (loop only)', value: c.cpuMicrosPerRequest, unit: 'µs', display: `${c.cpuMicrosPerRequest.toFixed(0)} µs` });
  b.row({ suite: 'throughput', measure: 'export / ceiling', value: ratio, unit: 'ratio', display: percent(ratio), target: '≥ 70 %', ok: ratio >= TARGET.ceilingRatio });
}

async function checkpoint(b: Bench, api: EmulatorProcess): Promise<void> {
  const n = b.sizes.throughput;
  let off = 0;
  let on = 0;
  let offCpu = Infinity;
  let onCpu = Infinity;
  // Interleaved, best of two each: drift (thermal, page cache) hits both sides alike.
  for (let round = 0; round < 2; round++) {
    const a = await b.export(api, { users: n, output: 'stdout', label: 'checkpoint-off' });
    const c = await b.export(api, { users: n, output: 'file', label: 'checkpoint-on' });
    off = Math.max(off, a.usersPerSec);
    on = Math.max(on, c.usersPerSec);
    offCpu = Math.min(offCpu, a.cpuMicrosPerUser ?? Infinity);
    onCpu = Math.min(onCpu, c.cpuMicrosPerUser ?? Infinity);
  }
  const ratio = on / off;
  b.row({ suite: 'checkpoint', measure: 'users/s, stdout, no checkpoint', value: off, unit: 'users/s', display: count(off) });
  b.row({ suite: 'checkpoint', measure: 'users/s, file + checkpoint', value: on, unit: 'users/s', display: count(on) });
  b.row({ suite: 'checkpoint', measure: 'checkpoint on / off (best of 2)', value: ratio, unit: 'ratio', display: percent(ratio), target: '≥ 95 %', ok: ratio >= TARGET.checkpointRatio });
  // CPU per user hardly moves when other work shares the cores; wall time does.
  if (Number.isFinite(offCpu) && Number.isFinite(onCpu)) {
    b.row({ suite: 'checkpoint', measure: 'CPU per user, off → on', value: onCpu, unit: 'µs', display: `${offCpu.toFixed(0)} → ${onCpu.toFixed(0)} µs` });
  }
}


async function memory(b: Bench, api: EmulatorProcess): Promise<void> {
  const peaks: number[] = [];
  for (const n of b.sizes.memory) {
    for (const shipped of [false, true]) {
      const m = await b.export(api, { users: n, output: 'file', label: `memory-${n}${shipped ? '-shipped' : ''}`, ...(shipped ? { nodeOptions: SHIPPED_NODE_OPTIONS } : {}) });
      if (m.peakRssKib === null) throw new Error('peak RSS unavailable: neither /usr/bin/time nor /proc/<pid>/status could be read');
      const bytes = m.peakRssKib * 1024;
      if (!shipped) {
        b.row({ suite: 'memory', measure: `peak RSS, ${count(n)} users, plain node dist/cli.js`, value: bytes, unit: 'bytes', display: megabytes(m.peakRssKib) });
        continue;
      }
      peaks.push(m.peakRssKib);
      b.row({ suite: 'memory', measure: `peak RSS, ${count(n)} users, as shipped (${SHIPPED_NODE_OPTIONS})`, value: bytes, unit: 'bytes', display: megabytes(m.peakRssKib), target: '< 200 MB', ok: bytes < TARGET.peakRssBytes });
      if (n === b.sizes.memory[1]) b.row({ suite: 'memory', measure: `export users/s (${count(n)} users, as shipped)`, value: m.usersPerSec, unit: 'users/s', display: count(m.usersPerSec) });
    }
  }
  const growth = peaks[1]! / peaks[0]! - 1;
  const [small, large] = b.sizes.memory;
  b.row({
    suite: 'memory',
    measure: `RSS growth ${count(small)} → ${count(large)}, as shipped`,
    value: growth,
    unit: 'ratio',
    display: `${growth >= 0 ? '+' : ''}${percent(growth)}`,
    target: '≤ +20 % (flat)',
    ok: growth <= TARGET.rssGrowth,
  });
}

async function rate(b: Bench): Promise<void> {
  const n = b.sizes.rateUsers;
  const rateArgs = ['--rate-limit', String(RATE.limit), '--rate-interval', String(RATE.intervalS)];
  say(`rate: starting a recording, throttling emulator (${RATE.limit} per ${RATE.intervalS} s)`);
  const api = await startEmulatorProcess(CLI, ['--synthetic', '--record', ...rateArgs]);
  try {
    const m = await b.export(api, { users: n, output: 'file', label: 'rate', rate: RATE });
    const s = await api.stats();
    const perSecond = RATE.limit / RATE.intervalS;
    const arrivals = (s.arrivals ?? []).slice().sort((x, y) => x - y);
    // Arrivals at the server: (n - 1) gaps over first..last. Without them, the child's wall time.
    const achieved = arrivals.length >= 2 ? ((arrivals.length - 1) * 1000) / (arrivals[arrivals.length - 1]! - arrivals[0]!) : (s.requests * 1000) / m.wallMs;
    const share = achieved / perSecond;
    const throttled = s.byStatus['429'] ?? 0;
    // Gaps between arrivals: a stalled event loop (either side) shows up as a long gap followed by a burst.
    const gaps = arrivals.slice(1).map((t, i) => t - arrivals[i]!).sort((x, y) => x - y);
    const gap = (q: number) => (gaps.length > 0 ? Number(gaps[Math.min(gaps.length - 1, Math.floor(q * gaps.length))]!.toFixed(2)) : null);
    b.details['rate'] = {
      users: n,
      limit: RATE,
      requests: s.requests,
      byStatus: s.byStatus,
      maxInWindow: s.maxInWindow,
      achievedPerSec: achieved,
      from: arrivals.length >= 2 ? 'arrivals' : 'wall time',
      gapMs: { min: gap(0), p1: gap(0.01), median: gap(0.5), p99: gap(0.99), max: gap(1) },
    };
    b.row({ suite: 'rate', measure: `achieved / ${perSecond} req/s (${count(n)} users)`, value: share, unit: 'ratio', display: percent(share), target: '≥ 99 %', ok: share >= TARGET.rateShare });
    b.row({ suite: 'rate', measure: `most requests in any ${RATE.intervalS} s window`, value: s.maxInWindow, unit: 'requests', display: count(s.maxInWindow), target: `≤ ${count(RATE.limit)}`, ok: s.maxInWindow > 0 && s.maxInWindow <= RATE.limit });
    b.row({ suite: 'rate', measure: '429 answers', value: throttled, unit: 'responses', display: count(throttled), target: '0', ok: throttled === 0 });
  } finally {
    await api.stop();
  }
}

async function main(): Promise<number> {
  let opts: Options;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`bench: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const sizes = opts.quick ? QUICK : FULL;
  const started = performance.now();
  const startedAt = new Date();
  // The bench itself keeps about 2 runnable processes (export + emulator); more than that is
  // other work on the machine competing for the 2 cores and skewing wall-time numbers.
  const load = { start: loadavg()[0]!, max: loadavg()[0]! };
  const sampler = setInterval(() => (load.max = Math.max(load.max, loadavg()[0]!)), 5000).unref();
  const tmp = await mkdtemp(join(tmpdir(), 'amp-bench-'));
  const onSignal = (sig: NodeJS.Signals) => {
    say(`${sig}: stopping the processes the bench started and removing ${tmp}`);
    killTracked('SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const b = new Bench(tmp, sizes);
  const timings: Record<string, number> = {};
  let crashed = false;
  let shared: EmulatorProcess | undefined;
  try {
    for (const suite of opts.only) {
      const t0 = performance.now();
      say(`suite ${suite}`);
      try {
        if (suite === 'rate') await rate(b);
        else if (suite === 'rates') await ratesSuite(b, CLI);
        else if (suite === 'refresh') await refreshSuite(b, CLI);
        else if (suite === 'shared') {
          if (!hasRedis()) b.row({ suite, measure: 'skipped: no redis-server on the PATH', value: null, unit: '', display: '' });
          for (const f of hasRedis() ? await sharedSuite(CLI, tmp) : []) {
            const p = `${f.processes} process${f.processes > 1 ? 'es' : ''}`;
            b.row({ suite, measure: `${p}: combined req/s (limit 20 per 2 s = 10/s)`, value: f.requestsPerSecond, unit: 'req/s', display: f.requestsPerSecond.toFixed(2) });
            b.row({ suite, measure: `${p}: most requests in any 2 s window`, value: f.maxInWindow, unit: 'requests', display: String(f.maxInWindow), target: '≤ 20', ok: f.maxInWindow <= 20 });
            b.row({ suite, measure: `${p}: 429 answers`, value: f.throttled, unit: 'requests', display: String(f.throttled), target: '0', ok: f.throttled === 0 });
          }
        }
        else {
          if (!shared) {
            shared = await startEmulatorProcess(CLI, ['--synthetic', '--rate-limit', '0']);
            // Warm-up, not measured: the emulator's JIT, and the page cache for dist/ and node_modules/.
            say(`emulator at ${shared.url} (pid ${shared.pid}); warm-up: ${count(sizes.warmup)} bare requests and a ${count(sizes.warmup)}-user export`);
            await b.ceiling(shared, sizes.warmup);
            await b.export(shared, { users: sizes.warmup, output: 'file', label: 'warmup', record: false });
          }
          if (suite === 'throughput') await throughput(b, shared);
          else if (suite === 'checkpoint') await checkpoint(b, shared);
          else if (suite === 's3') await s3Suite(b, shared, CLI);
          else await memory(b, shared);
        }
      } catch (err) {
        crashed = true;
        const msg = (err as Error)?.message ?? String(err);
        say(`suite ${suite} crashed: ${msg}`);
        b.row({ suite, measure: 'ERROR', value: null, unit: '', display: msg.slice(0, 200) });
      }
      timings[suite] = (performance.now() - t0) / 1000;
    }
  } finally {
    await shared?.stop();
    await rm(tmp, { recursive: true, force: true });
  }

  clearInterval(sampler);
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpus();
  const title = `amp-profile-export bench${opts.quick ? ' (--quick)' : ''} — node ${process.version}, ${cpu.length} cores, ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  b.notes.push(`bench took ${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s (${Object.entries(timings).map(([k, v]) => `${k} ${v.toFixed(0)} s`).join(', ')})`);
  b.notes.push(`load average (1 min): ${load.start.toFixed(2)} at start, ${load.max.toFixed(2)} at most during the bench (the bench alone keeps about 2 busy)`);
  const text = renderText(title, b.rows, b.notes);
  await mkdir(OUT_DIR, { recursive: true });
  await writeFile(join(OUT_DIR, 'bench.md'), renderMarkdown(title, b.rows, b.notes));
  await writeFile(
    join(OUT_DIR, 'bench.json'),
    `${JSON.stringify({ title, node: process.version, cores: cpu.length, cpu: cpu[0]?.model.trim() ?? null, startedAt: startedAt.toISOString(), quick: opts.quick, suites: opts.only, sizes, seconds, suiteSeconds: timings, loadAverage: load, rows: b.rows, notes: b.notes, details: { ...b.details, runs: b.runLog } }, null, 2)}\n`,
  );
  process.stdout.write(text);
  return crashed ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench: ${String((err as Error)?.stack ?? err)}\n`);
    killTracked('SIGKILL');
    process.exitCode = 1;
  },
);
