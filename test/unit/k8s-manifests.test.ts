import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as appsV1 from 'kubernetes-models/apps/v1';
import * as batchV1 from 'kubernetes-models/batch/v1';
import * as coreV1 from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { buildConfig, type ExportConfig } from '../../src/config.js';
import { loadSecret } from '../../src/secret.js';
import { ROOT, tempDir } from '../support/cli.js';
import { parseExportArgs } from '../support/export-args.js';
import { unknownFields } from '../support/k8s-fields.js';

/**
 * Every manifest in jobs/k8s: valid Kubernetes objects (kubernetes-models' schemas, plus no
 * field their types lack), and every export container's command line accepted by the CLI's own
 * parser and buildConfig, with its env (the Secret filled with a dummy key) and its ConfigMap
 * files; S3 and Redis URLs are only parsed, never contacted.
 */

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are checked by the schema tests, then read freely */
type Obj = Record<string, any>;
interface Manifest {
  name: string;
  obj: Obj;
}

const K8S = join(ROOT, 'jobs/k8s');
const FILES = readdirSync(K8S).filter((f) => /\.ya?ml$/.test(f)).sort();
const MANIFESTS: Manifest[] = FILES.flatMap((file) =>
  parseAllDocuments(readFileSync(join(K8S, file), 'utf8')).map((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${file} document ${i + 1}: ${doc.errors[0]!.message}`);
    const obj = doc.toJS() as Obj;
    return { name: `${file} ${obj?.kind}/${obj?.metadata?.name}`, obj };
  }),
);
const MODELS: Record<string, Record<string, unknown>> = { v1: coreV1, 'apps/v1': appsV1, 'batch/v1': batchV1 };
const NOW = new Date('2024-03-05T01:00:00Z');
const DUMMY_KEY = 'dummy-key-from-a-kubernetes-secret';

const byKind = (kind: string) => MANIFESTS.filter((m) => m.obj.kind === kind);
const only = (kind: string, name: string) => {
  const m = MANIFESTS.find((x) => x.obj.kind === kind && x.obj.metadata.name === name);
  if (!m) throw new Error(`no ${kind}/${name} in jobs/k8s`);
  return m.obj;
};

/** The Job spec of a CronJob or Job. */
const jobSpecOf = (o: Obj): Obj => (o.kind === 'CronJob' ? o.spec.jobTemplate.spec : o.spec);

interface ExportRun {
  workload: string;
  index: number | undefined;
  cfg: ExportConfig;
  env: Record<string, string>;
  pod: Obj;
  container: Obj;
}

/** Every export container of every workload, as the CLI would configure it (once per completion index). */
async function exportRuns(): Promise<ExportRun[]> {
  const runs: ExportRun[] = [];
  for (const { name, obj } of [...byKind('CronJob'), ...byKind('Job')]) {
    const job = jobSpecOf(obj);
    const pod = job.template.spec;
    for (const container of pod.containers.filter((c: Obj) => String(c.image).startsWith('amp-profile-export'))) {
      const args = mountedConfigMaps(pod, container, container.args as string[]);
      const indexes = job.completionMode === 'Indexed' ? Array.from({ length: job.completions as number }, (_, i) => i) : [undefined];
      for (const index of indexes) {
        const env = envOf(container);
        if (index !== undefined) env.JOB_COMPLETION_INDEX = String(index);
        expect(args[0], `${name}: the container runs the export command`).toBe('export');
        const amp = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('AMP_EXPORT_')));
        const cfg = buildConfig(await parseExportArgs(args.slice(1), amp), NOW, env);
        expect(loadSecret({ env: env.AMPLITUDE_SECRET_KEY }).key).toBe(DUMMY_KEY);
        runs.push({ workload: name, index, cfg, env, pod, container });
      }
    }
  }
  return runs;
}

/** The container's env: literal values, and a dummy for each Secret reference. */
function envOf(container: Obj): Record<string, string> {
  expect(container.envFrom, 'envFrom is not followed by this test').toBeUndefined();
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = String(e.value);
    else if (e.valueFrom?.secretKeyRef) env[e.name] = DUMMY_KEY;
    else throw new Error(`env ${e.name}: only value and secretKeyRef are followed by this test`);
  }
  return env;
}

/** Arguments naming a file in a mounted ConfigMap point at a temp copy of that ConfigMap key. */
function mountedConfigMaps(pod: Obj, container: Obj, args: string[]): string[] {
  const dir = tempDir('ape-k8s-');
  const files = new Map<string, string>();
  for (const mount of container.volumeMounts ?? []) {
    const cmName = (pod.volumes ?? []).find((v: Obj) => v.name === mount.name)?.configMap?.name;
    if (!cmName) continue;
    for (const [key, text] of Object.entries(only('ConfigMap', cmName).data as Record<string, string>)) {
      const copy = join(dir, `${cmName}-${key}`);
      writeFileSync(copy, text);
      files.set(`${mount.mountPath}/${key}`, copy);
    }
  }
  return args.map((a) => files.get(a) ?? a);
}

describe('jobs/k8s manifests', () => {
  it('are there, and parse (multi-document YAML too) into objects with apiVersion, kind and a name', () => {
    expect(FILES).toEqual(['configmap-nightly.yaml', 'cronjob-nightly.yaml', 'job-backfill-sharded.yaml', 'redis.yaml']);
    expect(MANIFESTS.map((m) => `${m.obj.apiVersion} ${m.obj.kind}`).sort()).toEqual([
      'apps/v1 Deployment',
      'batch/v1 CronJob',
      'batch/v1 Job',
      'v1 ConfigMap',
      'v1 Service',
      'v1 ServiceAccount',
    ]);
    for (const m of MANIFESTS) expect(m.obj.metadata?.name, m.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });

  it.each(MANIFESTS.map((m) => [m.name, m] as const))('%s validates against the Kubernetes schema', (_, m) => {
    const Model = MODELS[m.obj.apiVersion]?.[m.obj.kind] as (new (o: Obj) => { validate(): void }) | undefined;
    expect(Model, `kubernetes-models has ${m.obj.apiVersion} ${m.obj.kind}`).toBeDefined();
    expect(() => new Model!(m.obj).validate()).not.toThrow();
  });

  it('have no field that their Kubernetes type lacks (a typo the schema check lets through)', () => {
    // The manifests and a copy with typos go through one compiler program (building it is the slow part).
    const typo = structuredClone(only('CronJob', 'amp-profile-export-nightly'));
    typo.spec.concurencyPolicy = 'Forbid';
    typo.spec.jobTemplate.spec.template.spec.containers[0].resource = {};
    const found = unknownFields([...MANIFESTS.map((m) => ({ apiVersion: m.obj.apiVersion, kind: m.obj.kind, value: m.obj })), { apiVersion: 'batch/v1', kind: 'CronJob', value: typo }]);
    expect(Object.fromEntries(MANIFESTS.map((m, i) => [m.name, found[i]]))).toEqual(Object.fromEntries(MANIFESTS.map((m) => [m.name, []])));
    // ...and the check does find one.
    expect(found[MANIFESTS.length]!.sort()).toEqual([
      'CronJob.spec.concurencyPolicy',
      'CronJob.spec.jobTemplate.spec.template.spec.containers[0].resource',
    ]);
  }, 30_000);
});

describe('jobs/k8s export containers', () => {
  it('each command line is one the CLI accepts (its parser and buildConfig, with the env and the ConfigMap)', async () => {
    const runs = await exportRuns();
    expect(runs.map((r) => `${r.workload}${r.index === undefined ? '' : ` #${r.index}`}`)).toEqual([
      'cronjob-nightly.yaml CronJob/amp-profile-export-nightly',
      'job-backfill-sharded.yaml Job/amp-profile-export-backfill-2024-q1 #0',
      'job-backfill-sharded.yaml Job/amp-profile-export-backfill-2024-q1 #1',
      'job-backfill-sharded.yaml Job/amp-profile-export-backfill-2024-q1 #2',
    ]);
  });

  it('run the image ENTRYPOINT (exec form: SIGTERM reaches Node), get the key from a Secret, resume from S3, stop in time', async () => {
    for (const r of await exportRuns()) {
      const what = r.workload;
      expect(r.container.command, `${what}: no command, so the image's exec-form ENTRYPOINT runs node as PID 1`).toBeUndefined();
      const key = (r.container.env as Obj[]).find((e) => e.name === 'AMPLITUDE_SECRET_KEY');
      expect(key?.valueFrom?.secretKeyRef?.name, `${what}: the key comes from a Secret`).toBeTruthy();
      expect(key?.value, `${what}: never a literal key`).toBeUndefined();
      // A retried pod starts on an empty disk: only a checkpoint on S3 lets it resume.
      expect(r.cfg.checkpointPath, what).toMatch(/^s3:\/\//);
      expect(r.cfg.output.kind, what).toBe('s3');
      // SIGTERM: --grace for the requests in flight, then the last part and checkpoint go to S3.
      expect(r.pod.terminationGracePeriodSeconds, what).toBeGreaterThanOrEqual(r.cfg.graceMs / 1000 + 30);
      expect(r.cfg.rateLimit, what).toBeLessThanOrEqual(600);
    }
  });

  it('run as non-root on a read-only root filesystem with /tmp writable, with measured resources', async () => {
    for (const r of await exportRuns()) {
      const sc = { ...r.pod.securityContext, ...r.container.securityContext };
      expect(sc, r.workload).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
      // The image's USER is a name (node); the kubelet can only check runAsNonRoot against a number.
      expect(sc.runAsUser, r.workload).toBe(1000);
      expect((r.container.volumeMounts as Obj[]).map((m) => m.mountPath), r.workload).toContain('/tmp');
      expect(r.container.resources, r.workload).toEqual({ requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '500m', memory: '256Mi' } });
    }
  });
});

describe('the nightly CronJob', () => {
  const cron = only('CronJob', 'amp-profile-export-nightly');
  const job = jobSpecOf(cron);

  it('never runs twice at once, retries by new pods with a failure policy, and gives up on what a retry cannot fix', () => {
    expect(cron.spec.concurrencyPolicy).toBe('Forbid');
    expect(job.template.spec.restartPolicy).toBe('Never');
    expect(job.backoffLimit).toBeGreaterThanOrEqual(2);
    const failJob = job.podFailurePolicy.rules.find((r: Obj) => r.action === 'FailJob');
    expect(failJob.onExitCodes).toMatchObject({ containerName: 'export', operator: 'In', values: [2, 3, 4] });
    expect(job.podFailurePolicy.rules.find((r: Obj) => r.action === 'Ignore').onPodConditions).toEqual([{ type: 'DisruptionTarget', status: 'True' }]);
  });

  it('ends on the UTC date it started, so every retry writes and resumes the same {date} files', () => {
    expect(cron.spec.timeZone).toBe('Etc/UTC');
    const m = /^(\d+) (\d+) \* \* \*$/.exec(cron.spec.schedule);
    expect(m, 'a daily schedule').not.toBeNull();
    const startsAt = Number(m![2]) * 3600 + Number(m![1]) * 60;
    const latestEnd = startsAt + cron.spec.startingDeadlineSeconds + job.activeDeadlineSeconds;
    expect(latestEnd).toBeLessThan(24 * 3600);
    // ...and the night's budget at its rate: 22 h at 500 a minute.
    expect(job.activeDeadlineSeconds).toBe(22 * 3600);
  });

  it("mounts the ConfigMap whose nightly.yaml is jobs/nightly-braze.yaml word for word", () => {
    expect(job.template.spec.containers[0].args).toEqual(['export', '--config', '/etc/amp-profile-export/nightly.yaml']);
    expect(only('ConfigMap', 'amp-profile-export-nightly').data['nightly.yaml']).toBe(readFileSync(join(ROOT, 'jobs/nightly-braze.yaml'), 'utf8'));
  });
});

describe('the sharded backfill Job', () => {
  const job = only('Job', 'amp-profile-export-backfill-2024-q1');

  it('runs 3 indexed pods at once, each its own shard and file, sharing one rate limit through the Redis Service', async () => {
    expect(job.spec).toMatchObject({ completionMode: 'Indexed', completions: 3, parallelism: 3 });
    const runs = (await exportRuns()).filter((r) => r.workload.includes('backfill'));
    expect(runs.map((r) => r.cfg.shard)).toEqual([0, 1, 2].map((index) => ({ index, count: 3 })));
    expect(runs.map((r) => r.cfg.output.kind === 's3' && r.cfg.output.url)).toEqual([0, 1, 2].map((i) => `s3://acme-exports/backfill/2024-q1/shard-${i}.csv`));
    expect(new Set(runs.map((r) => r.cfg.checkpointPath)).size).toBe(3);
    const service = only('Service', 'amp-profile-export-redis');
    for (const r of runs) expect(r.cfg.redisUrl).toBe(`redis://${service.metadata.name}:${service.spec.ports[0].port}`);
    expect(only('Deployment', 'amp-profile-export-redis').spec.template.metadata.labels).toMatchObject(service.spec.selector);
  });
});
