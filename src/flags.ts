import type { Options } from 'yargs';

/**
 * `export` flags (PRODUCT.md, "Command line"). Every flag also reads an environment variable:
 * AMP_EXPORT_ + the flag in upper snake case (AMP_EXPORT_RATE_LIMIT=300). The secret key has no
 * flag on purpose: AMPLITUDE_SECRET_KEY or --secret-key-file, never the command line (ps, shell history).
 */
export const exportFlags = {
  input: { type: 'string', describe: 'Users CSV with a header row (path, or - for stdin)', group: 'Input/output:' },
  output: { type: 'string', describe: 'Destination (path, or - for stdout); {date} is filled in', group: 'Input/output:' },
  format: { type: 'string', describe: 'csv or jsonl', defaultDescription: 'from the output extension (.jsonl/.ndjson → jsonl)', group: 'Input/output:' },
  errors: { type: 'string', describe: 'Errors CSV (failed users, unreadable rows); a valid --input for a rerun', defaultDescription: 'output + .errors.csv', group: 'Input/output:' },
  checkpoint: { type: 'string', describe: 'Checkpoint file for resume', defaultDescription: 'output + .checkpoint.json', group: 'Input/output:' },
  fresh: { type: 'boolean', default: false, describe: 'Discard an existing checkpoint and start over', group: 'Input/output:' },
  'user-id-column': { type: 'string', default: 'user_id', describe: 'Input column holding the user id', group: 'Input/output:' },
  'device-id-column': { type: 'string', default: 'device_id', describe: 'Input column holding the device id', group: 'Input/output:' },
  'max-items': { type: 'number', describe: 'Items per recommendation (CSV: item_1..item_N)', defaultDescription: '10 for CSV, all for JSONL', group: 'Input/output:' },
  'escape-formulas': { type: 'boolean', default: false, describe: "Prefix cells starting with = + - @ with ' (only for files people open in spreadsheets)", group: 'Input/output:' },

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

  grace: { type: 'number', default: 10, describe: 'Seconds in-flight requests get to finish after SIGTERM/SIGINT', group: 'Run:' },
  'log-level': { type: 'string', default: 'info', describe: 'trace, debug, info, warn, error, silent', group: 'Run:' },
} as const satisfies Record<string, Options>;

const camel = (k: string) => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** The flags' defaults in yargs' camelCase form: what `export` gets when a flag is not given. */
export function exportDefaults(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(exportFlags)) if ('default' in v) out[camel(k)] = v.default;
  return out;
}
