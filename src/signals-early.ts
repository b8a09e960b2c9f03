/**
 * Imported first by cli.ts, so it runs before any other module: a SIGUSR1 listener of our own
 * keeps Node from starting its inspector on 127.0.0.1:9229 (Node 20 has no
 * --disable-sigusr1), where any local user could attach and read the environment, the secret
 * key included. Node does this by default on SIGUSR1; with a listener installed, it does not.
 * The export replaces this silent listener with one that logs (cli.ts `trapSignals`).
 */
export const ignoreQuietly = (): void => {};
process.on('SIGUSR1', ignoreQuietly);
process.on('SIGUSR2', ignoreQuietly);
