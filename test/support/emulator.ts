import { loadProfiles } from '../../src/emulator/profiles.js';
import { type EmulatorOptions, type RunningEmulator, startEmulator } from '../../src/emulator/server.js';
import { fixture } from './cli.js';

/** The project's emulator on 127.0.0.1:0 with the fixture profiles, recording arrivals. */
export async function fixtureEmulator(o: Partial<EmulatorOptions> = {}): Promise<RunningEmulator> {
  return startEmulator({
    profiles: await loadProfiles(fixture('profiles.json')),
    secretKey: 'demo-secret-key',
    rateLimit: 0,
    record: true,
    ...o,
  });
}

/** Writes a users CSV of `n` synthetic users (served with `synthetic: true`). */
export function syntheticUsers(n: number, prefix = 'user-'): string {
  const lines = ['user_id,device_id'];
  for (let i = 0; i < n; i++) lines.push(`${prefix}${i},`);
  return lines.join('\n') + '\n';
}
