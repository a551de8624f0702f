// Startup cost of the CLI: median wall time of `audit-lab --version` against `node -e 0`,
// measured interleaved in the same run so machine noise hits both alike. Prints, asserts nothing.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../bin/audit-lab.js', import.meta.url));
const runs = Number(process.env.BENCH_RUNS ?? 30);

function time(args) {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

// Warm the file cache first.
time([bin, '--version']);
time(['-e', '0']);
const cli = [];
const node = [];
for (let i = 0; i < runs; i++) {
  cli.push(time([bin, '--version']));
  node.push(time(['-e', '0']));
}
const c = median(cli);
const n = median(node);
console.log(`runs: ${runs} each, interleaved`);
console.log(`audit-lab --version  median ${c.toFixed(1)} ms`);
console.log(`node -e 0            median ${n.toFixed(1)} ms  (baseline)`);
console.log(`ratio                ${(c / n).toFixed(2)}  (target <= 2)`);
