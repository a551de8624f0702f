// `audit-lab policy suggest` as a user runs it, through `run(argv, io)`: its suggestion judged by
// `policy test`, event by event, against the base policy.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEVELS, type Level } from '../../src/audit/model.js';
import { loadPolicy } from '../../src/audit/policyLoader.js';
import { readPolicySource } from '../../src/audit/presets.js';
import { runCli } from '../harness/cli.js';
import { tempDir, testDir } from '../harness/lab.js';
import { type NoisyLog, noisyLog } from './suggestInput.js';

interface Figures {
  events: number;
  bytes: number;
  byLevel: Record<string, { events: number; bytes: number }>;
  droppedNone: number;
  droppedStage: number;
}
interface Suggested {
  policy: { rules: unknown[] };
  yaml: string;
  rules: { index: number; level: string; description: string; events: number; dropped: number; bytes: number }[];
  before: Figures;
  after: Figures;
  target: number | null;
  met: boolean | null;
}
interface Verdict {
  auditID: string;
  rule: number | null;
  level: Level;
  written: boolean;
  estimatedBytes: number;
}
interface Tested {
  results: Verdict[];
  summary: { policy: Figures };
}

let dir: string;
let log: string;
let input: NoisyLog;

let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('audit-lab-suggest-'));
  input = noisyLog();
  log = join(dir, 'audit.log');
  await writeFile(log, `${input.lines.join('\n')}\n`);
});
afterAll(() => cleanup());

async function suggestJson(args: string[]): Promise<Suggested> {
  const r = await runCli(['policy', 'suggest', ...args, '-o', 'json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Suggested;
}

/** `policy test` of a policy (a file or preset) on the log, as JSON. */
async function policyTest(policy: string, events = log): Promise<Tested> {
  const r = await runCli(['policy', 'test', policy, '--events', events, '-o', 'json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Tested;
}

async function saved(s: Suggested, name: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, s.yaml);
  return path;
}

const rank = (l: Level) => LEVELS.indexOf(l);

describe('policy suggest', () => {
  it('prints the same policy twice, and for the same events in another order', async () => {
    const shuffled = join(dir, 'shuffled', 'audit.log');
    await mkdir(join(dir, 'shuffled'));
    // A fixed permutation: every 7th line first, and so on.
    const order = input.lines.map((_, i) => i).sort((a, b) => (a % 7) - (b % 7) || b - a);
    await writeFile(shuffled, `${order.map((i) => input.lines[i]).join('\n')}\n`);
    const runs = await Promise.all([
      runCli(['policy', 'suggest', '--file', 'audit.log', '--target', '50%'], { cwd: dir }),
      runCli(['policy', 'suggest', '--file', 'audit.log', '--target', '50%'], { cwd: dir }),
      runCli(['policy', 'suggest', '--file', 'audit.log', '--target', '50%'], { cwd: join(dir, 'shuffled') }),
    ]);
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect(runs[0]!.stdout).toMatch(/^ {2}- level: None\n/m);
    expect(runs[1]!.stdout).toBe(runs[0]!.stdout);
    expect(runs[2]!.stdout).toBe(runs[0]!.stdout);
  });

  describe.each(['preset:recommended', 'preset:request-response'])('from %s', (from) => {
    let s: Suggested;
    let base: Tested;
    let after: Tested;
    beforeAll(async () => {
      s = await suggestJson(['--file', log, '--from', from]);
      [base, after] = await Promise.all([policyTest(from), policyTest(await saved(s, `${from.slice(7)}.yaml`))]);
    });

    it('suggests rules, and keeps every protected event at its base level (policy test, event by event)', () => {
      expect(s.rules.length).toBeGreaterThan(0);
      expect(after.results).toHaveLength(input.lines.length);
      let checked = 0;
      after.results.forEach((v, i) => {
        const b = base.results[i]!;
        expect(v.auditID).toBe(b.auditID);
        // No event is logged more than the base logs it.
        expect(rank(v.level), `line ${i + 1}`).toBeLessThanOrEqual(rank(b.level));
        expect(v.estimatedBytes, `line ${i + 1}`).toBeLessThanOrEqual(b.estimatedBytes);
        if (!input.protectedIds.has(v.auditID)) return;
        checked++;
        expect({
          line: i + 1,
          rule: v.rule === null || v.rule >= s.rules.length ? 'base' : v.rule,
          level: v.level,
          written: v.written,
          bytes: v.estimatedBytes,
        }).toEqual({
          line: i + 1,
          rule: 'base',
          level: b.level,
          written: b.written,
          bytes: b.estimatedBytes,
        });
      });
      expect(checked).toBeGreaterThan(100);
    });

    it("promises the cut policy test reports: the totals, and each rule's events and bytes", () => {
      expect(s.before).toEqual(base.summary.policy);
      expect(s.after).toEqual(after.summary.policy);
      expect(s.after.bytes).toBeLessThan(s.before.bytes);
      expect(s.rules.reduce((n, r) => n + r.bytes, 0)).toBe(s.before.bytes - s.after.bytes);
      s.rules.forEach((r, k) => {
        const mine = after.results.map((v, i) => ({ v, b: base.results[i]! })).filter(({ v }) => v.rule === k);
        expect(mine.length, r.description).toBeGreaterThan(0);
        expect(r.events).toBe(mine.filter(({ b }) => b.written).length);
        expect(r.dropped).toBe(mine.filter(({ b, v }) => b.written && !v.written).length);
        expect(r.bytes).toBe(mine.reduce((n, { b, v }) => n + b.estimatedBytes - v.estimatedBytes, 0));
      });
    });

    it('writes a policy our loader reads: the suggested rules, each under its comment, then the base rules unchanged', async () => {
      const suggested = loadPolicy(s.yaml, 'suggestion');
      const original = loadPolicy((await readPolicySource(from, dir)).text, from);
      expect(suggested.rules.slice(s.rules.length)).toEqual(original.rules);
      expect({ omitStages: suggested.omitStages, omitManagedFields: suggested.omitManagedFields }).toEqual({
        omitStages: original.omitStages,
        omitManagedFields: original.omitManagedFields,
      });
      const comments = [
        ...s.yaml.matchAll(
          /^ {2}# (drops|cuts) ([\d,]+) events?(?: to Metadata)?, [^(]*\(\d+%\): (.*)\n {2}- level: (\w+)$/gm,
        ),
      ];
      expect(comments.map((m) => [Number(m[2]!.replace(/,/g, '')), m[3], m[4]])).toEqual(
        s.rules.map((r) => [r.level === 'None' ? r.dropped : r.events, r.description, r.level]),
      );
      // The totals as comments at the end, as policy test counts them.
      expect(s.yaml).toMatch(
        new RegExp(
          `# +total written +[\\d,]+ +${s.before.bytes.toLocaleString('en-US')} +[\\d,]+ +${s.after.bytes.toLocaleString('en-US')}\\n`,
        ),
      );
    });

    it('never names secrets, exec, a write, or a name YAML cannot carry, in a rule', () => {
      const text = JSON.stringify(s.policy.rules.slice(0, s.rules.length));
      expect(text).not.toMatch(/secrets|exec|"create"|"update"|"patch"|"delete"|odd/);
    });
  });

  it('--target 50%: adds rules until the bytes after are at most half, and stops there', async () => {
    const s = await suggestJson(['--file', log, '--target', '50%']);
    expect(s).toMatchObject({ target: 0.5, met: true });
    expect(s.after.bytes).toBeLessThanOrEqual(0.5 * s.before.bytes);
    // One rule fewer would not have been enough.
    expect(s.after.bytes + s.rules.at(-1)!.bytes).toBeGreaterThan(0.5 * s.before.bytes);
    const all = await suggestJson(['--file', log, '--target', '100%']);
    expect(all.rules).toEqual([]);
    expect(all.after).toEqual(all.before);
  });

  it('a target out of reach: the best policy, what it reached on stderr, exit 0', async () => {
    const r = await runCli(['policy', 'suggest', '--file', log, '--target', '1%', '-o', 'json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as Suggested;
    expect(s).toMatchObject({ target: 0.01, met: false });
    const reached = `${Math.round((s.after.bytes / s.before.bytes) * 100)}%`;
    expect(r.stderr).toContain(
      `warning: the target 1% was not met: the best is ${reached} (${s.after.bytes.toLocaleString('en-US')} of ${s.before.bytes.toLocaleString('en-US')} bytes) with ${s.rules.length} rules`,
    );
    // Without a target the same rules, as far as each removes at least 1% of the bytes.
    const free = await suggestJson(['--file', log]);
    expect(free.rules.map((x) => x.description)).toEqual(
      s.rules.filter((x) => x.bytes >= 0.01 * s.before.bytes).map((x) => x.description),
    );
  });

  it('--sink reads what a lab stored: the same rules as --file of that stream', async () => {
    const home = await testDir('audit-lab-suggest-home-');
    await mkdir(join(home, 'audit-lab', 'streams'), { recursive: true });
    await writeFile(join(home, 'audit-lab', 'streams', 'full.log'), await readFile(log));
    const r = await runCli(['policy', 'suggest', '--sink', 'full', '--target', '50%', '-o', 'json'], {
      env: { AUDIT_LAB_HOME: home },
    });
    expect(r.code, r.stderr).toBe(0);
    const viaSink = JSON.parse(r.stdout) as Suggested;
    const viaFile = await suggestJson(['--file', log, '--target', '50%']);
    expect(viaSink.policy).toEqual(viaFile.policy);
    expect(viaSink.after).toEqual(viaFile.after);
    expect(viaSink.yaml).toContain('for sink full (');
  });

  it.each([
    [['--file', 'LOG', '--target', '0%'], '--target "0%" is not a share of the bytes'],
    [['--file', 'LOG', '--target', '150%'], '--target "150%" is not a share of the bytes'],
    [['--file', 'LOG', '--target', '50'], '--target "50" is not a share of the bytes'],
    [['--file', 'LOG', '--from', 'preset:nope'], 'unknown policy preset "nope"'],
    [['--file', 'LOG', '--from', 'missing.yaml'], 'cannot read policy missing.yaml: no such file'],
    [['--file', 'LOG', '--from', 'BAD'], 'rules[0].level'],
    [[], 'give the events to learn from: --sink NAME'],
    [['--file', 'LOG', '--sink', 'full'], 'give either --file or --sink, not both'],
    [['--file', 'EMPTY'], 'no audit events in'],
  ])('bad input %j: exit 2, and why', async (args, message) => {
    const bad = join(dir, 'bad-policy.yaml');
    const empty = join(dir, 'empty.log');
    await writeFile(bad, 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Everything\n');
    await writeFile(empty, '');
    const r = await runCli(
      ['policy', 'suggest', ...args.map((a) => (a === 'LOG' ? log : a === 'BAD' ? bad : a === 'EMPTY' ? empty : a))],
      { cwd: dir },
    );
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(message);
  });
});
