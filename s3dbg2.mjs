import { spawn } from 'node:child_process';
import { startFauxqs } from 'fauxqs';
import { writeFileSync } from 'node:fs';
const server = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false });
server.createBucket('bench');
const emuP = spawn(process.execPath, ['dist/cli.js', 'emulator', '--port', '0', '--synthetic', '--rate-limit', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise((res) => emuP.stdout.on('data', (d) => { const m = /http:\/\/[0-9.:]+/.exec(String(d)); if (m) res(m[0]); }));
const n = 100000;
writeFileSync('/tmp/s3u.csv', ['user_id,device_id', ...Array.from({ length: n }, (_, i) => `u-${i},`)].join('\n') + '\n');
const env = { ...process.env, AMPLITUDE_SECRET_KEY: 'demo-secret-key', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x', AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${server.port}`, AMP_PROFILE_EXPORT_DEBUG: '1', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
for (let round = 0; round < 2; round++) {
const t0 = Date.now();
const code = await new Promise((res) => { const c = spawn(process.execPath, ['dist/cli.js', 'export', '--input', '/tmp/s3u.csv', '--output', `s3://bench/r${round}/out.csv`, '--s3-path-style', '--api-url', url, '--rate-limit', '0', '--rec-id', 'homepage', '--prediction-id', 'p-churn', '--no-progress', '--log-level', 'warn'], { env, stdio: 'inherit' }); c.on('close', res); });
console.log('exit', code, Date.now() - t0, 'ms');
}
emuP.kill(); await server.stop();
