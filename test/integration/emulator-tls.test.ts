import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Agent, request } from 'undici';
import yargs from 'yargs';
import { describe, expect, it } from 'vitest';
import { emulatorCommand, emulatorOptionsFrom, runEmulator, type EmulatorArgs } from '../../src/emulator/command.js';
import { tempDir } from '../support/cli.js';
import { makeTestCa } from '../support/tls.js';

async function parse(argv: string[]): Promise<EmulatorArgs> {
  let parsed: EmulatorArgs | undefined;
  await yargs(['emulator', ...argv])
    .command({ ...emulatorCommand, handler: (a) => void (parsed = a as EmulatorArgs) })
    .exitProcess(false)
    .fail(false)
    .parseAsync();
  return parsed!;
}

describe('emulator behind TLS (--tls-cert, --tls-key)', () => {
  it('serves https with the given certificate, trusted through its CA', async () => {
    const ca = makeTestCa();
    const dir = tempDir('ape-emu-tls-');
    writeFileSync(join(dir, 'cert.pem'), ca.cert);
    writeFileSync(join(dir, 'key.pem'), ca.key);
    const args = await parse(['--port', '0', '--rate-limit', '0', '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem')]);
    const stdout = new PassThrough();
    let stop!: () => void;
    const running = runEmulator(args, { stdout, until: new Promise<void>((r) => (stop = r)) });
    const line: string = await new Promise((r) => stdout.once('data', (d: Buffer) => r(d.toString())));
    const url = /https:\/\/\S+/.exec(line)?.[0];
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const dispatcher = new Agent({ connect: { ca: readCa(ca.caFile) } });
    const res = await request(`${url}/v1/userprofile?user_id=x`, { dispatcher, headers: { authorization: 'Api-Key demo-secret-key' } });
    expect(res.statusCode).toBeLessThan(500);
    await res.body.text();
    // Without the CA the certificate is refused.
    await expect(request(`${url}/v1/userprofile?user_id=x`)).rejects.toMatchObject({ code: expect.stringMatching(/CERT|SIGNATURE/) });
    await dispatcher.close();
    stop();
    await running;
  });

  it('wants both files', async () => {
    await expect(parse(['--tls-cert', 'a.pem'])).rejects.toThrow('--tls-cert and --tls-key go together: give both or neither');
    const o = await emulatorOptionsFrom(await parse([]), {});
    expect(o.tls).toBeUndefined();
  });
});

function readCa(file: string): string {
  return readFileSync(file, 'utf8');
}
