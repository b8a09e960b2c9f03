import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, ROOT } from '../support/cli.js';
import { withoutFetchedAt } from '../support/state.js';
import { buildContext, buildStages, dockerignore, hostEntrypoint, localPrebuilds, parseDockerfile, type Stage } from '../support/dockerfile.js';

/**
 * The Dockerfile, built and started without Docker (no engine here or on CI): the build stage's
 * steps on a clean copy of the repository, the runtime stage assembled as its COPY lines say,
 * its `npm ci --omit=dev` run, then its ENTRYPOINT started from there. Slow: npm ci twice and a
 * TypeScript build (about half a minute with npm's cache). Skipped, loudly, only when npm can
 * reach neither its cache nor the registry.
 */

const instructions = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
let build: Stage;
let runtime: Stage;
let skipped: string | undefined;
const temps: string[] = [];

beforeAll(async () => {
  const context = await buildContext(ROOT);
  temps.push(context);
  const prebuilds = mkdtempSync(join(tmpdir(), 'ape-prebuilds-'));
  temps.push(prebuilds);
  const r = await buildStages(instructions, context, () => {}, await localPrebuilds(ROOT, prebuilds));
  temps.push(...r.stages.map((s) => s.root));
  if (r.unreachable) {
    skipped = `npm could reach neither its cache nor the registry (${r.unreachable})`;
    console.warn(`\n*** SKIPPING the Dockerfile tests: ${skipped} ***\n`);
    return;
  }
  expect(r.stages).toHaveLength(2);
  [build, runtime] = r.stages as [Stage, Stage];
  // better-sqlite3 takes its prebuilt binary as docker build would (localPrebuilds); the
  // runtime tests below open a --state file with it.
}, 900_000);

afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

/** The runtime image's ENTRYPOINT with `args`, from its WORKDIR, with its ENV. */
function start(args: string[], env: Record<string, string> = {}) {
  const [cmd, ...pre] = hostEntrypoint(runtime);
  const child = spawn(cmd!, [...pre, ...args], {
    cwd: join(runtime.root, runtime.workdir),
    env: { ...process.env, ...runtime.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, done, stdout: () => stdout };
}

describe('Dockerfile (slow: runs its stages outside Docker)', () => {
  it('is multi-stage on node:22-slim, non-root, with an exec-form ENTRYPOINT (SIGTERM reaches Node as PID 1)', (ctx) => {
    if (skipped) ctx.skip();
    expect([build.image, runtime.image]).toEqual(['node:22-slim', 'node:22-slim']);
    expect(runtime.user).toBe('node');
    expect(runtime.shellEntrypoint).toBeUndefined();
    expect(runtime.entrypoint).toEqual(['node', '--max-old-space-size=128', '/app/dist/cli.js']);
    expect(instructions.some((i) => i.op === 'RUN' && /npm ci --omit=dev/.test(i.args))).toBe(true);
  });

  it('the build stage built dist/ from a clean copy of the repository', (ctx) => {
    if (skipped) ctx.skip();
    expect(existsSync(join(build.root, 'app/dist/cli.js'))).toBe(true);
    expect(existsSync(join(build.root, 'app/node_modules/typescript'))).toBe(true);
  });

  it('the runtime stage holds production dependencies only, dist/ and fixtures/, and no sources or tests', (ctx) => {
    if (skipped) ctx.skip();
    const app = join(runtime.root, 'app');
    expect(readdirSync(app).sort()).toEqual(['dist', 'fixtures', 'node_modules', 'package-lock.json', 'package.json']);
    const modules = readdirSync(join(app, 'node_modules'));
    for (const dep of Object.keys(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).dependencies as object)) {
      expect(existsSync(join(app, 'node_modules', dep)), dep).toBe(true);
    }
    for (const dev of ['typescript', 'vitest', 'tsx', 'fauxqs', 'kubernetes-models', '@types']) expect(modules, dev).not.toContain(dev);
    // The product only: the benchmark harness lives in bench/, outside src/ and dist/.
    expect(readdirSync(join(app, 'dist'))).not.toContain('bench');
  });

  it('the build context leaves out node_modules, dist and tests (.dockerignore)', () => {
    const ignored = dockerignore(readFileSync(join(ROOT, '.dockerignore'), 'utf8'));
    for (const p of ['node_modules/yaml/package.json', 'dist/cli.js', 'test/e2e/dockerfile.test.ts', 'bench/run.ts', '.git/HEAD']) expect(ignored(p), p).toBe(true);
    for (const p of ['package.json', 'package-lock.json', 'tsconfig.json', 'src/cli.ts', 'fixtures/profiles.json']) expect(ignored(p), p).toBe(false);
  });

  it('ENTRYPOINT --help lists the commands', async (ctx) => {
    if (skipped) ctx.skip();
    const r = await start(['--help']).done;
    expect(r.code, r.stderr).toBe(0);
    for (const c of ['export', 'emulator', 'demo', 'merge']) expect(r.stdout).toContain(c);
  });

  it("the image's emulator starts and stops on SIGTERM, and an export with a job file runs against it", async (ctx) => {
    if (skipped) ctx.skip();
    const emulator = start(['emulator', '--port', '0']);
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the emulator printed no URL: ${emulator.stdout()}`)), 15_000);
      emulator.child.stdout!.on('data', () => {
        const m = /listening on (http:\/\/\S+)/.exec(emulator.stdout());
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
    });
    try {
      // From the image's WORKDIR, with relative paths, as `docker run -w` would.
      const cwd = join(runtime.root, runtime.workdir);
      copyFileSync(fixture('users.csv'), join(cwd, 'users.csv'));
      writeFileSync(
        join(cwd, 'golden.yaml'),
        `input: users.csv\noutput: out/users.csv\napi-url: ${url}\nrec-id: [homepage, email-weekly]\nprediction-id: [p-churn, p-buy]\ncohort-ids: true\nmax-items: 5\nrate-limit: 0\n`,
      );
      const r = await start(['export', '--config', 'golden.yaml'], { AMPLITUDE_SECRET_KEY: 'demo-secret-key' }).done;
      expect(r.code, r.stderr).toBe(0);
      expect(readFileSync(join(cwd, 'out/users.csv'), 'utf8')).toBe(readFileSync(fixture('expected/users.csv'), 'utf8'));
      // --state opens SQLite: the image's better-sqlite3 binary loads and works.
      const st = await start(['export', '--config', 'golden.yaml', '--output', 'out/stateful.csv', '--state', 'out/users.state'], { AMPLITUDE_SECRET_KEY: 'demo-secret-key' }).done;
      expect(st.code, st.stderr).toBe(0);
      expect(withoutFetchedAt(readFileSync(join(cwd, 'out/stateful.csv'), 'utf8'))).toBe(readFileSync(fixture('expected/users.csv'), 'utf8'));
      expect(existsSync(join(cwd, 'out/users.state'))).toBe(true);
    } finally {
      emulator.child.kill('SIGTERM');
    }
    expect((await emulator.done).code).toBe(0);
  }, 60_000);
});
