import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './cli.js';

export interface TestCa {
  /** PEM file of the CA: what NODE_EXTRA_CA_CERTS names. */
  caFile: string;
  cert: Buffer;
  key: Buffer;
}

/**
 * A self-signed CA and a server certificate it signed for 127.0.0.1 and localhost, made with the
 * machine's openssl: what a company's TLS-inspecting proxy or internal CA looks like to Node.
 */
export function makeTestCa(): TestCa {
  const dir = tempDir('ape-ca-');
  const f = (n: string) => join(dir, n);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=amp-profile-export test CA');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1');
  writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n');
  ssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.pem'), '-days', '2', '-extfile', f('ext.cnf'));
  return { caFile: f('ca.pem'), cert: readFileSync(f('server.pem')), key: readFileSync(f('server.key')) };
}
