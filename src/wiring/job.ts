import type { ExportConfig } from '../config.js';
import type { JobFingerprint } from '../contracts/job.js';
import { espFingerprint } from '../output/options.js';

/** This run's job: the input's identity and every option that decides the output's bytes. */
export function fingerprint(cfg: ExportConfig, input: JobFingerprint['input'], output: string): JobFingerprint {
  const q = cfg.query;
  return {
    input,
    output,
    errors: cfg.errorsPath,
    format: cfg.format,
    userIdColumn: cfg.userIdColumn,
    deviceIdColumn: cfg.deviceIdColumn,
    recIds: q.recIds,
    recType: q.recType ?? null,
    predictionIds: q.predictionIds,
    propensityType: q.propensityType ?? null,
    ampProps: q.ampProps,
    cohortIds: q.cohortIds,
    computations: q.computations,
    compIds: q.compIds,
    maxItems: cfg.maxItems,
    escapeFormulas: cfg.escapeFormulas,
    esp: espFingerprint(cfg.esp),
  };
}
