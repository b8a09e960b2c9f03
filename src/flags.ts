import type { Options } from 'yargs';

/**
 * `export` flags (README, "Running it for real"; `export --help`). Every flag also reads an environment variable:
 * AMP_EXPORT_ + the flag in upper snake case (AMP_EXPORT_RATE_LIMIT=300). The secret key has no
 * flag on purpose: AMPLITUDE_SECRET_KEY or --secret-key-file, never the command line (ps, shell history).
 */
export const exportFlags = {
  input: { type: 'string', describe: 'Users CSV with a header row (path, s3://bucket/key, or - for stdin)', group: 'Input/output:' },
  output: { type: 'string', describe: 'Destination (path, s3://bucket/key, or - for stdout); {date} is filled in', group: 'Input/output:' },
  format: { type: 'string', describe: 'csv or jsonl', defaultDescription: 'from the output extension (.jsonl/.ndjson → jsonl)', group: 'Input/output:' },
  errors: { type: 'string', describe: 'Errors CSV (failed users, unreadable rows); a valid --input for a rerun', defaultDescription: 'output + .errors.csv', group: 'Input/output:' },
  checkpoint: { type: 'string', describe: 'Checkpoint file (or s3:// object) for resume', defaultDescription: 'output + .checkpoint.json', group: 'Input/output:' },
  fresh: { type: 'boolean', default: false, describe: 'Discard an existing checkpoint and start over', group: 'Input/output:' },
  // Incremental exports (README "Incremental exports").
  state: { type: 'string', describe: 'SQLite file (or s3:// object) remembering what the last completed run delivered per user; created on first use; {shard} and {date} are filled in', group: 'Incremental:' },
  delta: { type: 'boolean', default: false, describe: 'Write only users new to --state or whose rows changed', group: 'Incremental:' },
  removed: { type: 'string', describe: "Write users --state holds that this run's input lacks, one row each (status removed), here (path or s3://)", group: 'Incremental:' },
  'reset-state': { type: 'boolean', default: false, describe: 'Treat --state as empty (every user new) and replace it when the run completes', group: 'Incremental:' },
  'refresh-budget': {
    type: 'string',
    describe: 'Send at most N requests (50000), or what the rate limit allows in a duration (6h, 90m; divided by --shards, which share the limit): never-fetched users first, then the least recently fetched; the others are carried from --state, 5% kept for retries',
    group: 'Incremental:',
  },
  'max-age': { type: 'string', describe: 'Carry users fetched more recently than this (12h, 3d) from --state instead of asking again, budget or not', group: 'Incremental:' },
  'user-id-column': { type: 'string', default: 'user_id', describe: 'Input column holding the user id', group: 'Input/output:' },
  'device-id-column': { type: 'string', default: 'device_id', describe: 'Input column holding the device id', group: 'Input/output:' },
  'max-items': { type: 'number', describe: 'Items per recommendation (CSV: item_1..item_N)', defaultDescription: '10 for CSV, all for JSONL', group: 'Input/output:' },
  'escape-formulas': { type: 'boolean', default: false, describe: "Prefix cells starting with = + - @ with ' (only for files people open in spreadsheets)", group: 'Input/output:' },

  // Email tools (README "Email tool presets"; the documented rules are cited in src/output/presets/presets.ts).
  preset: { type: 'string', describe: "braze, iterable, klaviyo or sfmc: one CSV row per user with the tool's identifier column, dates and file limit", group: 'Email tools:' },
  identifier: { type: 'string', describe: 'What identifies a user in a --preset file: user_id or email (the --email-column); iterable and sfmc take either', defaultDescription: 'email for klaviyo, else user_id', group: 'Email tools:' },
  'email-column': { type: 'string', default: 'email', describe: 'Input column holding the email address (--preset klaviyo, or --identifier email)', group: 'Email tools:' },
  passthrough: { type: 'string', describe: 'Input columns carried into the output after the ids, comma-separated; column:Header renames one', group: 'Email tools:' },
  control: { type: 'string', default: 'keep', describe: 'Control-group recs (random items): keep them, blank their items, or drop their row', group: 'Email tools:' },
  'split-rows': { type: 'number', describe: 'Cut the output into out-00001.csv, out-00002.csv, ... of at most N data rows each (local files; 0 = no limit)', defaultDescription: "the preset's limit (iterable 2,000,000)", group: 'Email tools:' },
  'split-bytes': { type: 'number', describe: 'The same with at most N bytes a file, header included (local files; 0 = no limit)', defaultDescription: "the preset's limit (braze 500 MB, klaviyo 50 MB)", group: 'Email tools:' },

  'rec-id': { type: 'string', describe: 'Recommendation ids to fetch, comma-separated', group: 'What to fetch:' },
  'rec-type': { type: 'string', describe: 'model or random (overrides the experiment control)', group: 'What to fetch:' },
  'prediction-id': { type: 'string', describe: 'Prediction ids for propensities, comma-separated', group: 'What to fetch:' },
  'propensity-type': { type: 'string', describe: 'score (raw) or pct (percentile)', group: 'What to fetch:' },
  'amp-props': { type: 'boolean', default: false, describe: 'Fetch all user properties', group: 'What to fetch:' },
  'cohort-ids': { type: 'boolean', default: false, describe: 'Fetch the cohort ids synced to the Profile API', group: 'What to fetch:' },
  computations: { type: 'boolean', default: false, describe: 'Fetch all computations', group: 'What to fetch:' },
  'comp-id': { type: 'string', describe: 'Computation ids, comma-separated', group: 'What to fetch:' },

  'api-url': { type: 'string', default: 'https://profile-api.amplitude.com', describe: 'Profile API base URL', group: 'API:' },
  'secret-key-file': { type: 'string', describe: 'File holding the secret key (else env AMPLITUDE_SECRET_KEY)', group: 'API:' },
  'rate-limit': { type: 'number', default: 600, describe: 'At most N requests per --rate-interval, org-wide (0 = no limit)', group: 'API:' },
  'rate-interval': { type: 'number', default: 60, describe: 'Rate window in seconds', group: 'API:' },
  concurrency: { type: 'number', default: 16, describe: 'Requests in flight at most', group: 'API:' },
  timeout: { type: 'number', default: 30, describe: 'Seconds before a request is abandoned and retried', group: 'API:' },
  'max-retries': {
    type: 'number',
    default: 6,
    describe: 'Retries per user for 429, 5xx, resets, timeouts (backoff 1 s doubling to 60 s, full jitter: ~1 min of waiting outlasts a per-minute throttle)',
    group: 'API:',
  },

  'redis-url': { type: 'string', describe: 'Share the rate limit with every process using this Redis and --limiter-id (redis://[:password@]host:port)', group: 'Sharing:' },
  'limiter-id': { type: 'string', default: 'amp-profile-export', describe: 'Name of the shared budget in Redis', group: 'Sharing:' },
  shard: { type: 'string', describe: 'i/n: take the users whose id hashes (FNV-1a 32) to i mod n', group: 'Sharing:' },
  shards: { type: 'number', describe: 'n: like --shard, with i from JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs)', group: 'Sharing:' },

  // S3: credentials, region and endpoint come from the AWS SDK's usual sources (AWS_PROFILE,
  // AWS_ACCESS_KEY_ID..., web identity, AWS_REGION, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL).
  's3-path-style': { type: 'boolean', default: false, describe: 'Path-style S3 addressing (endpoint/bucket/key), for S3-compatible stores (MinIO, Ceph...)', group: 'S3:' },
  's3-sse': { type: 'string', describe: 'Server-side encryption of every object written: AES256 or aws:kms', group: 'S3:' },
  's3-kms-key-id': { type: 'string', describe: 'KMS key id or ARN for --s3-sse aws:kms', defaultDescription: "the bucket's default key", group: 'S3:' },
  's3-part-size': { type: 'number', default: 8, describe: 'MiB per multipart part of an s3:// output (5 to 5120); also about the memory it holds between parts', group: 'S3:' },
  'lease-seconds': { type: 'number', default: 120, describe: 'An s3:// checkpoint or file is leased to one run, renewed every quarter of this; a lease not renewed for this long is taken over by the next run', group: 'S3:' },
  'take-over-lease': { type: 'boolean', default: false, describe: 'Take over the S3 lease of a run you know is gone (its host vanished) without waiting --lease-seconds', group: 'S3:' },

  grace: { type: 'number', default: 10, describe: 'Seconds in-flight requests get to finish after SIGTERM/SIGINT', group: 'Run:' },
  'log-level': { type: 'string', default: 'info', describe: 'trace, debug, info, warn, error, silent', group: 'Run:' },
  progress: { type: 'boolean', default: true, describe: 'On a terminal a status line (percent, users/s, rate, ETA, counts); else a JSON "progress" log line every --progress-interval s. --no-progress: neither', group: 'Run:' },
  'progress-interval': { type: 'number', default: 30, describe: 'Seconds between progress log lines when stderr is not a terminal', group: 'Run:' },
  'dry-run': { type: 'boolean', default: false, describe: 'Check the config and read the whole input: users, unreadable rows, duplicate ids, time at the rate limit; no request, no file written', group: 'Run:' },
  summary: { type: 'string', describe: 'Write a JSON run summary here at the end of every run (counts, requests, duration, files, exit code); {date} and {shard} are filled in', group: 'Run:' },
  'metrics-file': { type: 'string', describe: "The same in Prometheus text format for node_exporter's textfile collector (name it *.prom), replaced atomically", group: 'Run:' },
  'metrics-push': { type: 'string', describe: 'Push the same metrics to this Prometheus Pushgateway at the end of every run (http://pushgateway:9091); one that is down is a warning', group: 'Run:' },
  'metrics-job': { type: 'string', describe: 'The job label of pushed metrics; each --shard index is its own group', defaultDescription: 'the --limiter-id', group: 'Run:' },
} as const satisfies Record<string, Options>;

const camel = (k: string) => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** The flags' defaults in yargs' camelCase form: what `export` gets when a flag is not given. */
export function exportDefaults(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(exportFlags)) if ('default' in v) out[camel(k)] = v.default;
  return out;
}
