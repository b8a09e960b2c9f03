import type { ExportConfig } from '../config.js';
import { usageError } from '../errors.js';
import { checkDistinct } from './distinct.js';
import { isLocal, runLocations } from './locations.js';
import { unwritable } from './writable.js';

/**
 * What a run checks about its files before it opens any of them for writing, the same in a
 * real run and in --dry-run: every location distinct (symlinks resolved), and every local
 * file it writes creatable (not a directory, in a writable directory). Exit 2 with one line.
 */
export async function checkRunFiles(cfg: ExportConfig): Promise<void> {
  const locations = runLocations(cfg);
  await checkDistinct(locations);
  const problems = (await Promise.all(locations.filter((l) => l.writes && isLocal(l)).map((l) => unwritable(l.name).then((why) => why && `${l.flag}: ${why}`)))).filter((p) => p);
  if (problems.length > 0) throw usageError(`the run could not write its files: ${problems.join('; ')}`);
}
