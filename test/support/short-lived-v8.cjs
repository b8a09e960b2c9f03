// Preloaded (NODE_OPTIONS=--require) into the CLI processes the tests start: see TEST_NODE_OPTIONS
// in cli.ts. Set here, at run time, not as `node --liftoff-only ...`: any V8 flag on the command
// line costs Node its startup snapshot (about +100 ms a process).
const v8 = require('node:v8');
// WebAssembly (undici's HTTP parser) stays on the baseline compiler: no tier-up.
v8.setFlagsFromString('--liftoff-only');
// JavaScript is optimised only when 16 times hotter than V8's default (67,584 bytes of
// bytecode run): a hot loop still is, a function called a few hundred times is not.
v8.setFlagsFromString('--interrupt-budget=1081344');
