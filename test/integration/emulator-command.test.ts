import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import yargs from 'yargs';
import { describe, expect, it } from 'vitest';
import { emulatorCommand, emulatorOptionsFrom, runEmulator, type EmulatorArgs } from '../../src/emulator/command.js';
import { tempDir } from '../support/cli.js';

/** Parses argv with the command's builder and checks, without running the handler. */
async function parse(argv: string[]): Promise<EmulatorArgs> {
  let parsed: EmulatorArgs | undefined;
  await yargs(['emulator', ...argv])
    .command({ ...emulatorCommand, handler: (a) => void (parsed = a as EmulatorArgs) })
    .exitProcess(false)
    .fail(false)
    .parseAsync();
  return parsed!;
}

describe('emulator command flags', () => {
  it('has the documented defaults', async () => {
    const o = await emulatorOptionsFrom(await parse([]), {});
    expect(o).toMatchObject({
      port: 8787, host: '127.0.0.1', synthetic: false, secretKey: 'demo-secret-key', rateLimit: 600, rateIntervalMs: 60_000,
      unknownStatus: 400, shape: 'official', faults: null, record: false,
    });
    expect(o.profiles.length).toBeGreaterThanOrEqual(14);
  });

  it('maps every flag', async () => {
    const dir = tempDir('emu-cmd-');
    const keyFile = join(dir, 'key');
    await writeFile(keyFile, 'from-file\n');
    const args = await parse([
      '--port', '0', '--synthetic', '--secret-key-file', keyFile, '--rate-limit', '0', '--rate-interval', '2', '--unknown-status', '404',
      '--shape', 'legacy', '--fault-rate', '0.25', '--faults', 'drop, 429', '--fault-seed', '9', '--slow-ms', '10', '--retry-after', '3', '--record',
    ]);
    expect(await emulatorOptionsFrom(args, { EMULATOR_SECRET_KEY: 'from-env' })).toMatchObject({
      port: 0, synthetic: true, secretKey: 'from-file', rateLimit: 0, rateIntervalMs: 2000, unknownStatus: 404, shape: 'legacy', record: true,
      faults: { rate: 0.25, kinds: ['drop', '429'], seed: 9, slowMs: 10, retryAfterSeconds: 3 },
    });
    expect((await emulatorOptionsFrom(await parse([]), { EMULATOR_SECRET_KEY: 'from-env' })).secretKey).toBe('from-env');
  });

  it.each([
    [['--port', '70000'], /--port: expected an integer from 0 to 65535, got 70000/],
    [['--rate-limit', '-1'], /--rate-limit: expected an integer >= 0, got -1/],
    [['--rate-interval', '0'], /--rate-interval/],
    [['--unknown-status', '500'], /--unknown-status: expected 200, 400 or 404, got 500/],
    [['--shape', 'new'], /--shape: expected official or legacy, got new/],
    [['--fault-rate', '1.5'], /--fault-rate: expected a number from 0 to 1, got 1.5/],
    [['--faults', '500,boom'], /--faults: expected a comma-separated list of 500, 503, drop, slow, truncate, 429, got "500,boom"/],
    [['--slow-ms', 'soon'], /--slow-ms/],
  ])('rejects %j with one line', async (argv, message) => {
    const err = await parse(argv).then(() => null, (e: Error) => e);
    expect(err?.message).toMatch(message);
    expect(err?.message).not.toContain('\n');
  });

  it('reports a missing profiles file in one line', async () => {
    await expect(emulatorOptionsFrom(await parse(['--profiles', '/nonexistent/p.json']), {})).rejects.toThrow(
      'profiles file /nonexistent/p.json: cannot read it (ENOENT)',
    );
  });
});

describe('runEmulator', () => {
  it('prints one line with the real port, serves, and closes when told to stop', async () => {
    const stdout = new PassThrough();
    let output = '';
    stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    let stop!: () => void;
    const until = new Promise<void>((resolve) => (stop = resolve));
    const done = runEmulator(await parse(['--port', '0']), { stdout, until });
    await expect.poll(() => output).toMatch(/\n$/);
    const match = /^Profile API emulator listening on (http:\/\/127\.0\.0\.1:(\d+))\n$/.exec(output);
    expect(match).not.toBeNull();
    expect(Number(match![2])).toBeGreaterThan(0);
    const res = await fetch(`${match![1]}/v1/userprofile?user_id=u-1001`, { headers: { authorization: 'Api-Key demo-secret-key' } });
    expect(res.status).toBe(200);
    await res.text();
    stop();
    await done;
    await expect(fetch(`${match![1]}/v1/userprofile?user_id=u-1001`)).rejects.toThrow();
  });
});
