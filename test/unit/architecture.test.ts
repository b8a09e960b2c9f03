import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/cli.js';

/**
 * The layers of src/, bottom first: a module imports only from its own layer or below. The
 * README's "Architecture" section draws the same map; change both together. Within the sides
 * (sources, sinks, checkpoint) no folder imports another: they meet in contracts/.
 */
export const LAYERS: Array<{ name: string; units: string[] }> = [
  { name: 'foundation', units: ['contracts/', 'errors.ts', 'hash.ts', 'version.ts', 'secret.ts', 'redact.ts', 'proxy-redact.ts', 'shipped.ts', 'package-files.ts', 'log.ts', 'signals-early.ts', 'lazy-segmenter.ts'] },
  { name: 'protocols', units: ['net/', 'aws/', 'api/', 'emulator/'] },
  { name: 'sides', units: ['sources/', 'sinks/', 'checkpoint/'] },
  { name: 'core', units: ['output/', 'pipeline/', 'progress/'] },
  { name: 'options', units: ['config.ts', 'flags.ts', 'jobfile.ts', 'export-options.ts', 'budget.ts'] },
  { name: 'run', units: ['wiring/', 'state/', 'preflight/', 'claim/', 'report/', 'dryrun/', 'merge/', 'summary.ts', 'export.ts', 'dryrun.ts', 'merge.ts', 'demo.ts', 'temp-dirs.ts'] },
  { name: 'command line', units: ['cli.ts'] },
];
const SIDES = ['sources/', 'sinks/', 'checkpoint/'];

const SRC = join(ROOT, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

/** `sinks/s3.ts` -> `sinks/`; `config.ts` -> `config.ts`. */
const unitOf = (file: string) => {
  const rel = relative(SRC, file);
  return rel.includes('/') ? `${rel.split('/')[0]}/` : rel;
};

/** Relative imports of a module: static, re-exports and dynamic `import('...')`, type-only included. */
export function importsOf(file: string, text: string): string[] {
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;'"]*?from\s*['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g)].map((m) => m[1] ?? m[2]!);
  return specs.map((s) => join(dirname(file), s.replace(/\.js$/, '.ts')));
}

const files = sources(SRC);
const graph = new Map(files.map((f) => [f, importsOf(f, readFileSync(f, 'utf8'))]));
const layerOf = (unit: string) => LAYERS.findIndex((l) => l.units.includes(unit));

describe('architecture: layers that point one way', () => {
  it('every module of src/ has a layer', () => {
    const homeless = [...new Set(files.map(unitOf))].filter((u) => layerOf(u) < 0);
    expect(homeless, 'add these to LAYERS here and to the README map').toEqual([]);
  });

  it('no import points up a layer', () => {
    const up: string[] = [];
    for (const [from, tos] of graph) {
      for (const to of tos) {
        const a = unitOf(from);
        const b = unitOf(to);
        if (layerOf(b) > layerOf(a)) up.push(`${relative(SRC, from)} -> ${relative(SRC, to)} (${LAYERS[layerOf(a)]!.name} -> ${LAYERS[layerOf(b)]!.name})`);
      }
    }
    expect(up).toEqual([]);
  });

  it('sources, sinks and checkpoint do not import one another', () => {
    const across: string[] = [];
    for (const [from, tos] of graph) {
      for (const to of tos) {
        const a = unitOf(from);
        const b = unitOf(to);
        if (a !== b && SIDES.includes(a) && SIDES.includes(b)) across.push(`${relative(SRC, from)} -> ${relative(SRC, to)}`);
      }
    }
    expect(across).toEqual([]);
  });

  it('no two modules import each other, directly or round a circle', () => {
    const circles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const path: string[] = [];
    const visit = (f: string) => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        circles.push([...path.slice(path.indexOf(f)), f].map((p) => relative(SRC, p)).join(' -> '));
        return;
      }
      state.set(f, 'open');
      path.push(f);
      for (const to of graph.get(f) ?? []) if (graph.has(to)) visit(to);
      path.pop();
      state.set(f, 'done');
    };
    for (const f of files) visit(f);
    expect(circles).toEqual([]);
  });

  it('reads the imports it checks (a guard against a parser that finds nothing)', () => {
    const exp = graph.get(join(SRC, 'export.ts'))!.map((p) => relative(SRC, p));
    expect(exp).toContain('pipeline/run.ts');
    expect(importsOf(join(SRC, 'x.ts'), "const m = await import('./sinks/s3.js');\nexport type { A } from './contracts/job.js';")).toEqual([join(SRC, 'sinks/s3.ts'), join(SRC, 'contracts/job.ts')]);
  });

  it('the AWS SDK loads only with S3 code: a run without s3:// never pays for it', () => {
    // Static value imports only: `import type` is erased, `await import()` waits to be needed.
    const valueImports = (text: string) => [...text.matchAll(/(?:^|\n)import\s+(?:(?!type\b)[^;'"]*?from\s*)?['"]([^'"]+)['"]/g)].map((m) => m[1]!);
    const imports = new Map(files.map((f) => [f, valueImports(readFileSync(f, 'utf8'))]));
    // Every module that loads the SDK as soon as it is itself loaded (a static import, or a
    // require() as aws/s3-sdk.ts does), directly or through another.
    const loadsSdk = (f: string) => imports.get(f)!.some((s) => s.startsWith('@aws-sdk/')) || /(?<!import)\(\s*['"]@aws-sdk\//.test(readFileSync(f, 'utf8'));
    const pulls = new Set(files.filter(loadsSdk));
    for (let grew = true; grew; ) {
      grew = false;
      for (const [f, specs] of imports) {
        if (pulls.has(f)) continue;
        if (specs.some((s) => s.startsWith('.') && pulls.has(join(dirname(f), s.replace(/\.js$/, '.ts'))))) {
          pulls.add(f);
          grew = true;
        }
      }
    }
    const names = [...pulls].map((f) => relative(SRC, f)).sort();
    expect(names, 'the S3 modules load the SDK through aws/s3-sdk.ts').toContain('aws/s3-sdk.ts');
    expect(names.length, 'the S3 modules load the SDK').toBeGreaterThan(3);
    expect(names.filter((n) => !/(^|\/)s3[-\w]*\.ts$/.test(n)), 'import these S3 paths with await import()').toEqual([]);
  });
});
