// Compares audit-lab's policy engine (the built dist/) with upstream's decisions written by the Go
// program, on the same cases:
//
//   node compare.mjs CASES_DIR UPSTREAM_RESULTS
//
// Prints `policy differential: N cases compared, 0 disagreements` and exits 1 on any disagreement
// in matched rule, level, omitted stages or omitManagedFields, or in whether (and, for validation,
// with which message) a policy is refused.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const [casesDir, upstreamFile] = process.argv.slice(2);
if (!casesDir || !upstreamFile) {
  console.error('usage: node compare.mjs CASES_DIR UPSTREAM_RESULTS');
  process.exit(2);
}
const dist = new URL('../../../dist/audit/', import.meta.url);
const { PolicyEvaluator, eventAttributes } = await import(new URL('policyEngine.js', dist).href);
const { loadPolicy, PolicyLoadError } = await import(new URL('policyLoader.js', dist).href);

const policies = JSON.parse(readFileSync(join(casesDir, 'policies.json'), 'utf8'));
const events = readFileSync(join(casesDir, 'events.jsonl'), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
const attrs = events.map(eventAttributes);
const upstream = new Map(
  readFileSync(upstreamFile, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l))
    .map((r) => [r.policy, r]),
);

const disagreements = [];
const MAX_SHOWN = 20;
let compared = 0;
let refusedAlike = 0;
let evaluated = 0;
// How the cases spread, so a generator that stops exercising the rules shows.
const byLevel = { None: 0, Metadata: 0, Request: 0, RequestResponse: 0 };
let matched = 0;

for (const { id, yaml } of policies) {
  const up = upstream.get(id);
  if (!up) {
    disagreements.push(`${id}: no upstream result`);
    continue;
  }
  let policy = null;
  let mine = { kind: undefined, message: undefined };
  try {
    policy = loadPolicy(yaml, id);
  } catch (err) {
    if (!(err instanceof PolicyLoadError)) throw err;
    mine = { kind: err.kind, message: err.detail };
  }
  if ((up.error ?? undefined) !== mine.kind) {
    disagreements.push(`${id}: upstream ${up.error ? `refuses (${up.error}: ${up.message})` : 'loads it'}; audit-lab ${mine.kind ? `refuses (${mine.kind}: ${mine.message})` : 'loads it'}`);
    continue;
  }
  if (up.error) {
    // Decoding messages differ by design (ours carry line numbers); validation ones must not.
    if (up.error === 'validate' && up.message !== mine.message) {
      disagreements.push(`${id}: validation message differs\n    upstream:  ${up.message}\n    audit-lab: ${mine.message}`);
    } else refusedAlike++;
    continue;
  }
  evaluated++;
  const ev = new PolicyEvaluator(policy);
  up.decisions.forEach(([rule, level, omitStages, omf], i) => {
    compared++;
    const d = ev.evaluate(attrs[i]);
    const got = [d.rule ?? -1, d.level, d.omitStages.join(','), d.omitManagedFields];
    const want = [rule, level, omitStages, omf];
    if (rule >= 0) matched++;
    byLevel[level] = (byLevel[level] ?? 0) + 1;
    if (got.some((v, k) => v !== want[k])) {
      disagreements.push(`${id} x event ${i}: upstream ${JSON.stringify(want)}, audit-lab ${JSON.stringify(got)}\n    event: ${JSON.stringify(events[i])}`);
    }
  });
}

for (const d of disagreements.slice(0, MAX_SHOWN)) console.error(`DISAGREE ${d}`);
if (disagreements.length > MAX_SHOWN) console.error(`... and ${disagreements.length - MAX_SHOWN} more`);
console.log(`policies: ${policies.length} (${evaluated} evaluated, ${refusedAlike} refused alike), events: ${events.length}`);
const pct = (n) => `${((100 * n) / Math.max(compared, 1)).toFixed(1)}%`;
console.log(`cases: ${pct(matched)} matched a rule; ${Object.entries(byLevel).map(([l, n]) => `${l} ${pct(n)}`).join(', ')}`);
console.log(`policy differential: ${compared} cases compared, ${disagreements.length} disagreements`);
process.exit(disagreements.length === 0 && compared > 0 ? 0 : 1);
