import { fnv1a32 } from '../hash.js';
import type { SourceItem } from '../sources/csv.js';

export interface Shard {
  /** This process's shard, 0-based. */
  index: number;
  count: number;
}

/**
 * Which users this process takes (README, "Several processes: Redis and shards"): FNV-1a 32-bit of the UTF-8 id (`user_id`, else
 * `device_id`) mod n. Stable across runs, machines and input order, so a retried pod takes the
 * same users. Rows that cannot be used belong to shard 0, so each is reported exactly once.
 */
export function inShard(item: SourceItem, shard: Shard): boolean {
  if (shard.count <= 1) return true;
  if (item.kind === 'bad') return shard.index === 0;
  return fnv1a32(item.user_id || item.device_id) % shard.count === shard.index;
}
