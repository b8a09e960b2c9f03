import { isS3Url } from '../aws/s3url.js';
import { type ExportConfig, locationName } from '../config.js';

/** A place a run reads or writes, named by the flag that chose it. */
export interface RunLocation {
  flag: string;
  /** A local path (absolute, `{date}`/`{shard}` filled in) or an s3:// URL. */
  name: string;
  writes: boolean;
  /** A split output: the run writes numbered files beside `name` (out-00001.csv, ...), not `name`. */
  split?: boolean;
}

/**
 * Every location the run reads or writes, stdin and stdout left out (nothing can collide with
 * them). Later features add their files here (the state, the removed-users file) and get the
 * distinctness check for free.
 */
/** What the list needs of the config (claims pass no input: they only look at what is written). */
export type LocationsConfig = Pick<ExportConfig, 'output' | 'errorsPath' | 'checkpointPath' | 'summaryPath' | 'metricsPath'> & Partial<Pick<ExportConfig, 'input' | 'esp' | 'state'>>;

export function runLocations(cfg: LocationsConfig): RunLocation[] {
  const all: Array<RunLocation | null> = [
    !cfg.input || cfg.input.kind === 'stdio' ? null : { flag: '--input', name: locationName(cfg.input), writes: false },
    cfg.output.kind === 'stdio' ? null : { flag: '--output', name: locationName(cfg.output), writes: true, ...(cfg.esp?.split ? { split: true } : {}) },
    { flag: '--errors', name: cfg.errorsPath, writes: true },
    cfg.checkpointPath === null ? null : { flag: '--checkpoint', name: cfg.checkpointPath, writes: true },
    cfg.summaryPath === null ? null : { flag: '--summary', name: cfg.summaryPath, writes: true },
    cfg.metricsPath === null ? null : { flag: '--metrics-file', name: cfg.metricsPath, writes: true },
    !cfg.state ? null : { flag: '--state', name: cfg.state.path, writes: true },
    cfg.state?.removedPath ? { flag: '--removed', name: cfg.state.removedPath, writes: true } : null,
  ];
  return all.filter((l) => l !== null);
}

export const isLocal = (l: RunLocation) => !isS3Url(l.name);
