// Audit policy evaluation speed: events evaluated per second by audit-lab's engine (dist/) and,
// in the same run on the same inputs, by k8s.io/apiserver's own evaluator (the Go program in
// test/conformance/policydiff, bench mode). Both time evaluation only: policies are loaded and
// events turned into request attributes before the clock starts. Prints figures, asserts nothing.
//
//   npm run bench:policy        (BENCH_SECONDS=N to run each side longer; default 2)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate, writeCases } from '../conformance/policydiff/gen.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const diffDir = join(root, 'test/conformance/policydiff');
const seconds = Number(process.env.BENCH_SECONDS ?? 2);
const { PolicyEvaluator, eventAttributes } = await import(new URL('../../dist/audit/policyEngine.js', import.meta.url).href);
const { loadPolicy } = await import(new URL('../../dist/audit/policyLoader.js', import.meta.url).href);

const work = mkdtempSync(join(tmpdir(), 'bench-policy-'));
try {
  const t0 = Date.now();
  execFileSync('go', ['build', '-o', join(work, 'policydiff'), '.'], { cwd: diffDir, stdio: ['ignore', 'ignore', 'inherit'] });
  console.log(`go build: ${Date.now() - t0} ms (cached after the first run)`);

  const generated = generate({ seed: 7, events: 10_000 });
  const recommended = readFileSync(join(root, 'templates/policies/recommended.yaml'), 'utf8');
  const scenarios = [
    { name: 'generated edge-case policies', cases: generated },
    { name: 'preset:recommended', cases: { policies: [{ id: 'recommended', yaml: recommended }], events: generated.events } },
  ];

  const fmt = (n) => `${(n / 1e6).toFixed(2)} M/s`;
  console.log(`each side runs >= ${seconds}s per scenario, evaluation only\n`);
  for (const { name, cases } of scenarios) {
    const dir = join(work, name.replace(/\W+/g, '-'));
    writeCases(dir, cases);

    const go = JSON.parse(execFileSync(join(work, 'policydiff'), ['bench', '-cases', dir, '-min', `${seconds}s`], { encoding: 'utf8' }));

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

    console.log(`${name}: ${evaluators.length} policies x ${attrs.length} events (upstream: ${go.policies} x ${go.events})`);
    console.log(`  audit-lab (node ${process.version})  ${fmt(ts)}`);
    console.log(`  k8s.io/apiserver (go)       ${fmt(go.perSecond)}  (baseline)`);
    console.log(`  ratio                       ${(ts / go.perSecond).toFixed(2)}  (target >= 0.5)`);
    if (sink === 0 && go.checksum === 0) console.log('  (no rule ever matched: the inputs are wrong)');
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
