/**
 * How the CLI is shipped: the `amp-profile-export` bin's shebang and the Docker ENTRYPOINT run
 * Node with this heap limit (a test keeps them equal to this constant). Without it V8 sizes
 * its old space against the machine's memory and lets garbage pile up to ~100 MB before a full
 * collection; the export's live data is far below it.
 */
export const SHIPPED_NODE_OPTIONS = '--max-old-space-size=128';
