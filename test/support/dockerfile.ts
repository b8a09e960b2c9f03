import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, posix } from 'node:path';
import { promisify } from 'node:util';

/**
 * Runs a Dockerfile's stages without Docker: each stage's filesystem is a temp directory,
 * WORKDIR/COPY/ENV act on it, RUN runs `sh -c` there with the host's Node and npm (whose cache
 * stands in for the registry). It knows only the instructions this project's Dockerfile uses
 * and refuses anything else, so the Dockerfile cannot drift away from what is tested.
 */

const run = promisify(execFile);

export interface Instruction {
  op: string;
  args: string;
  line: number;
}

export interface Stage {
  name: string | undefined;
  image: string;
  /** The stage's filesystem: container path /x is `${root}/x`. */
  root: string;
  workdir: string;
  env: Record<string, string>;
  user: string | undefined;
  entrypoint: string[] | undefined;
  /** Set when ENTRYPOINT was in shell form. */
  shellEntrypoint: string | undefined;
}

/** Instructions, continuation lines joined, comments and parser directives dropped. */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    if (pending === '' && (line.trim() === '' || line.trimStart().startsWith('#'))) return;
    if (pending === '') start = i + 1;
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      return;
    }
    const full = (pending + line).trim();
    pending = '';
    const m = /^(\S+)\s+(.*)$/.exec(full);
    if (!m) throw new Error(`Dockerfile line ${start}: cannot read "${full}"`);
    out.push({ op: m[1]!.toUpperCase(), args: m[2]!, line: start });
  });
  return out;
}

/** A .dockerignore as a predicate on context-relative paths (plain paths and * ? ** globs). */
export function dockerignore(text: string): (path: string) => boolean {
  const patterns = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((p) => {
      if (p.startsWith('!')) throw new Error(`.dockerignore: exceptions (${p}) are not supported by this test`);
      const body = p.replace(/^\/+/, '').replace(/\/+$/, '');
      const re = body
        .split(/(\*\*|\*|\?)/)
        .map((part) => (part === '**' ? '.*' : part === '*' ? '[^/]*' : part === '?' ? '[^/]' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
        .join('');
      return new RegExp(`^${re}(/.*)?$`);
    });
  return (path) => patterns.some((re) => re.test(path));
}

export interface Build {
  stages: Stage[];
  /** Set when npm could reach neither its cache nor the registry: the caller skips. */
  unreachable?: string;
}

/**
 * Builds every stage in order from `context` (a directory holding the build context). `runEnv`
 * is what the host adds to every RUN: the stand-in for what Docker's network would give.
 */
export async function buildStages(instructions: Instruction[], context: string, log: (s: string) => void = () => {}, runEnv: Record<string, string> = {}): Promise<Build> {
  const stages: Stage[] = [];
  let stage: Stage | undefined;
  const host = (s: Stage, p: string) => join(s.root, posix.resolve(s.workdir, p));
  for (const ins of instructions) {
    const where = `Dockerfile line ${ins.line} (${ins.op})`;
    if (ins.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`${where}: cannot read ${ins.args}`);
      stage = { name: m[2], image: m[1]!, root: mkdtempSync(join(tmpdir(), `ape-docker-${stages.length}-`)), workdir: '/', env: {}, user: undefined, entrypoint: undefined, shellEntrypoint: undefined };
      stages.push(stage);
      continue;
    }
    if (!stage) throw new Error(`${where}: before any FROM`);
    const s = stage;
    switch (ins.op) {
      case 'WORKDIR':
        s.workdir = posix.resolve(s.workdir, ins.args.trim());
        mkdirSync(join(s.root, s.workdir), { recursive: true });
        break;
      case 'ENV': {
        const m = /^([A-Za-z_][A-Za-z0-9_]*)=(\S*)$/.exec(ins.args.trim());
        if (!m) throw new Error(`${where}: only ENV NAME=value is supported here`);
        s.env[m[1]!] = m[2]!;
        break;
      }
      case 'USER':
        s.user = ins.args.trim();
        break;
      case 'COPY': {
        const tokens = ins.args.trim().split(/\s+/);
        if (tokens[0]?.startsWith('[')) throw new Error(`${where}: the JSON form is not supported here`);
        let from: Stage | undefined;
        while (tokens[0]?.startsWith('--')) {
          const flag = tokens.shift()!;
          if (flag.startsWith('--from=')) {
            const name = flag.slice('--from='.length);
            from = stages.find((x) => x.name === name);
            if (!from) throw new Error(`${where}: no stage named ${name}`);
          } else if (!flag.startsWith('--chown=')) throw new Error(`${where}: ${flag} is not supported here`);
        }
        const dest = tokens.pop();
        if (!dest || tokens.length === 0) throw new Error(`${where}: COPY needs a source and a destination`);
        for (const src of tokens) {
          if (/[*?[]/.test(src)) throw new Error(`${where}: globs are not supported here`);
          const origin = from ? join(from.root, posix.resolve(from.workdir, src)) : join(context, src);
          if (!existsSync(origin)) throw new Error(`${where}: ${src} is not in ${from ? `stage ${from.name}` : 'the build context (.dockerignore?)'}`);
          const target = host(s, dest);
          if (statSync(origin).isDirectory()) cpSync(origin, target, { recursive: true });
          else if (dest.endsWith('/') || tokens.length > 1) {
            mkdirSync(target, { recursive: true });
            cpSync(origin, join(target, basename(src)));
          } else cpSync(origin, target);
        }
        break;
      }
      case 'RUN': {
        let cmd = ins.args.trim();
        while (/^--(mount|network|security)=\S+\s+/.test(cmd)) cmd = cmd.replace(/^--\S+\s+/, '');
        // Outside a container an absolute path is the host's: refuse rather than touch it.
        if (/(^|\s)\//.test(cmd)) throw new Error(`${where}: "${cmd}" names an absolute path; it cannot run outside Docker`);
        // The host stands in for the image's system packages: check they are there, install nothing.
        if (cmd.startsWith('apt-get ')) {
          const pkgs = cmd.replace(/^.*install\s+/, '').split(/\s+/).filter((p) => p && !p.startsWith('-'));
          const tool: Record<string, string> = { python3: 'python3', make: 'make', 'g++': 'g++' };
          for (const p of pkgs) {
            if (!tool[p]) throw new Error(`${where}: the package ${p} has no host stand-in here; teach test/support/dockerfile.ts which command it provides`);
            await run('sh', ['-c', `command -v ${tool[p]}`]).catch(() => {
              throw new Error(`${where}: ${tool[p]} is not on this host (the image installs it with apt-get)`);
            });
          }
          log(`${where}: ${cmd} (host has ${pkgs.join(', ')}: skipped)`);
          break;
        }
        log(`${where}: ${cmd}`);
        const env = { ...process.env, ...runEnv, ...s.env, npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false', npm_config_fund: 'false' };
        try {
          await run('sh', ['-c', cmd], { cwd: join(s.root, s.workdir), env, maxBuffer: 64 * 1024 * 1024 });
        } catch (err) {
          const e = err as { stdout?: string; stderr?: string; message: string };
          const output = `${e.stdout ?? ''}${e.stderr ?? ''}`;
          const offline = /ENOTCACHED|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|network request .* failed/i.exec(output);
          if (cmd.startsWith('npm ') && offline) return { stages, unreachable: `${cmd}: ${offline[0]}` };
          throw new Error(`${where}: ${cmd} failed: ${e.message}\n${output.slice(-4000)}`);
        }
        break;
      }
      case 'ENTRYPOINT': {
        const a = ins.args.trim();
        if (a.startsWith('[')) s.entrypoint = JSON.parse(a) as string[];
        else s.shellEntrypoint = a;
        break;
      }
      case 'CMD':
        break;
      default:
        throw new Error(`${where}: not supported by this test; teach test/support/dockerfile.ts what it does outside Docker`);
    }
  }
  return { stages };
}

/** The runtime stage's ENTRYPOINT as a host command: `node` is this Node, absolute paths map into the stage. */
export function hostEntrypoint(s: Stage): string[] {
  if (!s.entrypoint) throw new Error('no exec-form ENTRYPOINT');
  return s.entrypoint.map((a, i) => (i === 0 && a === 'node' ? process.execPath : a.startsWith('/') ? join(s.root, a) : a));
}

/** The files of the repository a clean checkout has (plus new, not ignored ones), minus .dockerignore. */
export async function buildContext(repo: string): Promise<string> {
  const { stdout } = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repo, maxBuffer: 64 * 1024 * 1024 });
  const ignored = existsSync(join(repo, '.dockerignore')) ? dockerignore(readFileSync(join(repo, '.dockerignore'), 'utf8')) : () => false;
  const dir = mkdtempSync(join(tmpdir(), 'ape-docker-context-'));
  for (const f of stdout.split('\0')) {
    if (f === '' || ignored(f) || !existsSync(join(repo, f))) continue;
    mkdirSync(join(dir, posix.dirname(f)), { recursive: true });
    cpSync(join(repo, f), join(dir, f));
  }
  return dir;
}

/**
 * better-sqlite3's install script (prebuild-install) downloads a prebuilt binary where it can:
 * that is what `docker build` does, with GitHub in reach. Here there is no GitHub, so it would
 * compile SQLite from source (about 70 s on two cores). This packs the binary the repository's
 * own `npm ci` built into a local prebuild directory for it to find, as it would the download.
 * Returns the environment that points prebuild-install there, or {} when there is no binary.
 */
export async function localPrebuilds(root: string, dir: string): Promise<Record<string, string>> {
  const pkg = join(root, 'node_modules/better-sqlite3');
  const binary = 'build/Release/better_sqlite3.node';
  if (!existsSync(join(pkg, binary))) return {};
  const { version } = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { version: string };
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  await run('tar', ['-czf', join(dir, name), '-C', pkg, binary]);
  return { npm_config_better_sqlite3_local_prebuilds: dir };
}
