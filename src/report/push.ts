import { Pushgateway, type Registry } from 'prom-client';
import { describe } from '../errors.js';
import { redactUrl, scrubUrlCredentials } from '../redact.js';

export interface PushTarget {
  /** The Pushgateway's base URL (a path prefix is kept; user:password@ becomes basic auth). */
  url: URL;
  /** The `job` label. */
  job: string;
  /** Further grouping labels (`shard`): each group's series are replaced by its next push. */
  grouping: Record<string, string>;
  /** The whole push, connect to answer. */
  timeoutMs: number;
}

/**
 * PUTs the registry to the Pushgateway's group for `job` and `grouping`: PUT replaces every
 * series of the group, so a metric the run did not have (no rate limit) is not left over from
 * the previous run. Rejects with an Error whose message names the Pushgateway without its
 * credentials; the caller decides that a failed push is only a warning.
 *
 * The push goes straight to the Pushgateway, not through HTTP(S)_PROXY: it normally runs inside
 * the cluster, next to Prometheus.
 */
export async function pushMetrics(registry: Registry, t: PushTarget): Promise<void> {
  // A signal, not http's `timeout` (an idle timeout per socket): it bounds the whole exchange, DNS to answer.
  const deadline = AbortSignal.timeout(t.timeoutMs);
  const gateway = new Pushgateway(t.url.href, { signal: deadline }, registry);
  try {
    await gateway.push({ jobName: t.job, groupings: t.grouping });
  } catch (err) {
    const why = deadline.aborted ? `no answer within ${t.timeoutMs / 1000} s` : firstLine(describe(err));
    throw new Error(`${redactUrl(t.url.href)}: ${scrubUrlCredentials(t.url, why)}`);
  }
}

const firstLine = (s: string) => {
  const line = s.split('\n').find((l) => l.trim() !== '') ?? s;
  return line.length > 300 ? `${line.slice(0, 300)}...` : line;
};
