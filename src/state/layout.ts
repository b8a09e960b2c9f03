import type { ExportConfig } from '../config.js';
import { espFingerprint } from '../output/options.js';

/**
 * The options that shape a user's rows: a state's stored rows and hashes only compare with
 * rows of the same layout. The checkpoint's fingerprint rules without what names one night's
 * run (input file, output and errors paths, split sizes: they cut files, not rows). The shard
 * is in it too: a state kept for shard 0/3 read by shard 0/4 would call a quarter of its users
 * removed.
 */
export interface StateLayout {
  format: string;
  userIdColumn: string;
  deviceIdColumn: string;
  recIds: string[];
  recType: string | null;
  predictionIds: string[];
  propensityType: string | null;
  ampProps: boolean;
  cohortIds: boolean;
  computations: boolean;
  compIds: string[];
  maxItems: number | null;
  escapeFormulas: boolean;
  esp: Record<string, unknown> | null;
  shard: string;
  /** Rows hold a fetched_at mark (output/fetched-at.ts); absent in states written before it. */
  fetchedAt?: true;
}

/** The flag a person would change to match, for each layout field. */
const FLAG: Record<keyof StateLayout, string> = {
  format: '--format',
  userIdColumn: '--user-id-column',
  deviceIdColumn: '--device-id-column',
  recIds: '--rec-id',
  recType: '--rec-type',
  predictionIds: '--prediction-id',
  propensityType: '--propensity-type',
  ampProps: '--amp-props',
  cohortIds: '--cohort-ids',
  computations: '--computations',
  compIds: '--comp-id',
  maxItems: '--max-items',
  escapeFormulas: '--escape-formulas',
  esp: '--preset/--identifier/--email-column/--passthrough/--control',
  shard: '--shard/--shards',
  fetchedAt: 'the fetched_at column',
};

export function stateLayout(cfg: ExportConfig): StateLayout {
  const q = cfg.query;
  return {
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
    esp: espFingerprint({ ...cfg.esp, split: null }),
    shard: `${cfg.shard.index}/${cfg.shard.count}`,
    fetchedAt: true,
  };
}

/** What differs, as `--flag (then, now)`; empty when the layouts match. */
export function layoutDifferences(saved: StateLayout, now: StateLayout): string[] {
  const out: string[] = [];
  const text = (v: unknown) => JSON.stringify(v ?? null);
  for (const k of Object.keys(FLAG) as Array<keyof StateLayout>) {
    if (text(saved[k]) !== text(now[k])) out.push(`${FLAG[k]} (${text(saved[k])} then, ${text(now[k])} now)`);
  }
  return out;
}
