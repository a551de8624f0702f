// `policy test` as a user runs it, then audit policy evaluation speed.
//
// Memory: the built CLI's peak RSS judging BENCH_POLICY_EVENTS generated events (default 200,000,
// API-server-like Metadata events, seeded) with preset:recommended, for each output: the summary,
// --per-event, -o wide, json, jsonl, yaml and name. Output is counted, not kept.
//
// Speed: events evaluated per second by audit-lab's engine (dist/) and, in the same run on the same
// inputs, by k8s.io/apiserver's own evaluator (the Go program in test/conformance/policydiff, bench
// mode). Both time evaluation only: policies are loaded and events turned into request attributes
// before the clock starts. Needs go; without it, only the memory part runs.
//
// Prints figures, asserts nothing.
//
//   npm run bench:policy        (BENCH_SECONDS=N to run each side longer; default 2)
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate, writeCases } from '../conformance/policydiff/gen.mjs';
import { measure } from './rss.mjs';
import { generate as generateLog } from './topData.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const diffDir = join(root, 'test/conformance/policydiff');
const seconds = Number(process.env.BENCH_SECONDS ?? 2);
const { PolicyEvaluator, eventAttributes } = await import(
  new URL('../../dist/audit/policyEngine.js', import.meta.url).href
);
const { loadPolicy } = await import(new URL('../../dist/audit/policyLoader.js', import.meta.url).href);

const work = mkdtempSync(join(tmpdir(), 'bench-policy-'));
try {
  await memory();
  if (spawnSync('go', ['version']).status === 0) await speed();
  else console.log('\n(go not on PATH: no speed comparison with k8s.io/apiserver)');
} finally {
  rmSync(work, { recursive: true, force: true });
}

/** policy test's peak RSS for each output over one generated log. */
async function memory() {
  const events = Number(process.env.BENCH_POLICY_EVENTS ?? 200_000);
  const log = join(work, 'audit.log');
  const fd = openSync(log, 'w');
  let lines = [];
  generateLog({ count: events, seed: 21 }, (line) => {
    lines.push(line);
    if (lines.length === 10_000) {
      writeSync(fd, `${lines.join('\n')}\n`);
      lines = [];
    }
  });
  if (lines.length > 0) writeSync(fd, `${lines.join('\n')}\n`);
  closeSync(fd);
  const bin = join(root, 'bin', 'audit-lab.js');
  console.log(
    `policy test preset:recommended over ${events.toLocaleString('en')} events (${(statSync(log).size / 1024 / 1024).toFixed(0)} MiB); node ${process.version}`,
  );
  for (const [name, flags] of [
    ['summary (the table)', []],
    ['--per-event', ['--per-event']],
    ['-o wide', ['-o', 'wide']],
    ['-o json', ['-o', 'json']],
    ['-o jsonl', ['-o', 'jsonl']],
    ['-o yaml', ['-o', 'yaml']],
    ['-o name', ['-o', 'name']],
  ]) {
    const m = await measure(
      [process.execPath, bin, 'policy', 'test', 'preset:recommended', '--file', log, ...flags],
      { AUDIT_LAB_HOME: join(work, 'home') },
      { keepStdout: false },
    );
    console.log(
      `  ${name.padEnd(20)} peak RSS ${m.rssMb.toFixed(0).padStart(4)} MB  ${(m.wall / 1000).toFixed(1).padStart(5)} s  ${(m.stdoutBytes / 1024 / 1024).toFixed(1).padStart(6)} MiB out  (${m.how})`,
    );
  }
  console.log('  target: peak RSS under 150 MB for every output');
}

/** Events evaluated per second: this engine against k8s.io/apiserver's, on the same inputs. */
async function speed() {
  console.log('');
  const t0 = Date.now();
  execFileSync('go', ['build', '-o', join(work, 'policydiff'), '.'], {
    cwd: diffDir,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  console.log(`go build: ${Date.now() - t0} ms (cached after the first run)`);

  const generated = generate({ seed: 7, events: 10_000 });
  const recommended = readFileSync(join(root, 'templates/policies/recommended.yaml'), 'utf8');
  const scenarios = [
    { name: 'generated edge-case policies', cases: generated },
    {
      name: 'preset:recommended',
      cases: { policies: [{ id: 'recommended', yaml: recommended }], events: generated.events },
    },
  ];

  const fmt = (n) => `${(n / 1e6).toFixed(2)} M/s`;
  console.log(`each side runs >= ${seconds}s per scenario, evaluation only\n`);
  for (const { name, cases } of scenarios) {
    const dir = join(work, name.replace(/\W+/g, '-'));
    writeCases(dir, cases);

    const go = JSON.parse(
      execFileSync(join(work, 'policydiff'), ['bench', '-cases', dir, '-min', `${seconds}s`], { encoding: 'utf8' }),
    );

    const evaluators = [];
    for (const { id, yaml } of cases.policies) {
      try {
        evaluators.push(new PolicyEvaluator(loadPolicy(yaml, id)));
      } catch {
        // refused policies are not evaluated, on either side
      }
    }
    const attrs = cases.events.map(eventAttributes);
    let sink = 0;
    const round = () => {
      for (const ev of evaluators) for (const a of attrs) sink += ev.evaluate(a).level.length;
    };
    round(); // warm-up, as the Go side does
    let rounds = 0;
    const start = process.hrtime.bigint();
    let elapsed = 0;
    while (elapsed < seconds) {
      round();
      rounds++;
      elapsed = Number(process.hrtime.bigint() - start) / 1e9;
    }
    const ts = (rounds * evaluators.length * attrs.length) / elapsed;

    console.log(
      `${name}: ${evaluators.length} policies x ${attrs.length} events (upstream: ${go.policies} x ${go.events})`,
    );
    console.log(`  audit-lab (node ${process.version})  ${fmt(ts)}`);
    console.log(`  k8s.io/apiserver (go)       ${fmt(go.perSecond)}  (baseline)`);
    console.log(`  ratio                       ${(ts / go.perSecond).toFixed(2)}  (target >= 0.5)`);
    if (sink === 0 && go.checksum === 0) console.log('  (no rule ever matched: the inputs are wrong)');
  }
}
