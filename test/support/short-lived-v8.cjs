// Preloaded (NODE_OPTIONS=--require) into the CLI processes the tests start: see TEST_NODE_OPTIONS
// in cli.ts. Set here, at run time, not as `node --liftoff-only ...`: any V8 flag on the command
// line costs Node its startup snapshot (about +100 ms a process).
//
// A flag changed at run time also makes V8 refuse the code cache Node ships for its own modules
// (the cache is keyed on the flags): node:http, tls, http2... would then be compiled from source
// as the CLI imports them (measured: 17 ms -> 40 ms for these). So the built-in modules an export
// loads are loaded first, from the cache, and the flags set after.
for (const m of ['stream', 'stream/promises', 'string_decoder', 'assert', 'fs/promises', 'os', 'crypto', 'diagnostics_channel', 'net', 'http', 'https', 'tls', 'http2', 'worker_threads', 'perf_hooks', 'readline', 'readline/promises', 'zlib']) require(m);
const v8 = require('node:v8');
// WebAssembly (undici's HTTP parser) stays on the baseline compiler: no tier-up.
v8.setFlagsFromString('--liftoff-only');
// JavaScript is optimised only when 16 times hotter than V8's default (67,584 bytes of
// bytecode run): a hot loop still is, a function called a few hundred times is not.
v8.setFlagsFromString('--interrupt-budget=1081344');
