// Startup cost of the CLI: median wall time of `audit-lab --version`, `status`, `down` and `doctor`
// against `node -e 0`, measured interleaved in the same run so machine noise hits all alike.
// status, down and doctor run on a lab in a temp home with an empty PATH: no kind, kubectl or
// docker is asked and nothing real is touched, so what is measured is what they load and read
// (doctor then exits 1, missing kind; down exits 0: a lab that never had a cluster needs no kind
// to be taken down). Prints, asserts nothing.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureLab } from '../../dist/lab/lab.js';
import { withLabLock } from '../../dist/lab/lock.js';
import { labPaths } from '../../dist/lab/paths.js';

const bin = fileURLToPath(new URL('../../bin/audit-lab.js', import.meta.url));
const runs = Number(process.env.BENCH_RUNS ?? 30);
const dir = mkdtempSync(join(tmpdir(), 'audit-lab-bench-'));
const home = join(dir, 'home');
const paths = labPaths(home, 'audit-lab');
await withLabLock(paths, 'bench', () => ensureLab(paths));
const env = { HOME: process.env.HOME, NO_COLOR: '1', AUDIT_LAB_HOME: home, PATH: dir };

function time(args, code = 0) {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== code) throw new Error(`${args.join(' ')} exited ${r.status}, not ${code}: ${r.stderr}`);
  return ms;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

const cases = [
  { label: 'audit-lab --version', args: [bin, '--version'], code: 0 },
  { label: 'audit-lab status', args: [bin, 'status'], code: 0 },
  { label: 'audit-lab down', args: [bin, 'down'], code: 0 },
  { label: 'audit-lab doctor', args: [bin, 'doctor'], code: 1 },
  { label: 'node -e 0', args: ['-e', '0'], code: 0 },
];
try {
  // Warm the file cache first.
  for (const c of cases) time(c.args, c.code);
  const times = cases.map(() => []);
  for (let i = 0; i < runs; i++) cases.forEach((c, k) => times[k].push(time(c.args, c.code)));
  const medians = times.map(median);
  const n = medians.at(-1);
  console.log(`runs: ${runs} each, interleaved`);
  cases.forEach((c, k) => {
    const m = `${c.label.padEnd(20)} median ${medians[k].toFixed(1).padStart(6)} ms`;
    if (k === cases.length - 1) console.log(`${m}  (baseline)`);
    else console.log(`${m}  ratio ${(medians[k] / n).toFixed(2)}${k === 0 ? '  (target <= 2)' : ''}`);
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
