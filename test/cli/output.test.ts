/**
 * One output flag: `-o json|jsonl|yaml|wide|name` on `list`, `status`,
 * `sink list`, `doctor` and `policy test`, through one printer (src/ui/printers.ts), through
 * `run(argv, io)` (a terminal: the built CLI in one). A lab with stored events and no tools on
 * PATH: nothing real is asked.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseDocument, visit } from 'yaml';
import { ensureLab } from '../../src/lab/lab.js';
import { withLabLock } from '../../src/lab/lock.js';
import { labPaths } from '../../src/lab/paths.js';
import { ensurePrivateDir } from '../../src/lab/fsutil.js';
import { streamFile } from '../../src/streams/names.js';
import { ROOT, runCli, runInPty } from '../harness/cli.js';
import { tempDir } from '../harness/lab.js';

const AUDIT_LOG = join(ROOT, 'test/fixtures/policy/audit.log');
const POLICY = ['policy', 'test', 'preset:recommended', '--events', AUDIT_LOG];

let env: NodeJS.ProcessEnv;
let emptyEnv: NodeJS.ProcessEnv;
let home: string;

beforeAll(async () => {
  const { dir, cleanup } = await tempDir();
  home = join(dir, 'home');
  const paths = labPaths(home, 'audit-lab');
  await withLabLock(paths, 'test', () => ensureLab(paths));
  await ensurePrivateDir(paths.streamsDir);
  const ev = (id: string, t: string) =>
    JSON.stringify({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'Metadata',
      auditID: id,
      stage: 'ResponseComplete',
      verb: 'get',
      stageTimestamp: t,
    });
  await writeFile(
    streamFile(paths.streamsDir, 'default'),
    `${ev('e1', '2026-01-01T00:00:00Z')}\n${ev('e2', '2026-01-01T00:00:05Z')}\n`,
  );
  const bin = join(dir, 'no-tools');
  await mkdir(bin);
  await mkdir(join(dir, 'empty-home'));
  // PATH is an empty directory: no kind, kubectl or docker.
  env = { AUDIT_LAB_HOME: home, PATH: bin };
  emptyEnv = { AUDIT_LAB_HOME: join(dir, 'empty-home'), PATH: bin };
  return cleanup;
});

async function out(args: string[], code = 0, e = env): Promise<string> {
  const r = await runCli(args, { env: e });
  expect(r.code, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`).toBe(code);
  return r.stdout;
}

// [command, exit code (doctor fails with no tools), -o name lines]
const COMMANDS: [string[], number, (lines: string[]) => void][] = [
  [['list'], 0, (l) => expect(l).toEqual(['lab/audit-lab'])],
  [['status'], 0, (l) => expect(l).toEqual(['lab/audit-lab'])],
  [['sink', 'list'], 0, (l) => expect(l).toEqual(['sink/default'])],
  [
    ['doctor'],
    1,
    (l) =>
      expect(l).toEqual(['check/docker', 'check/kind', 'check/kubectl', 'check/cgroup', 'check/port', 'check/pki']),
  ],
  [POLICY, 0, (l) => expect(l.length === 20 && l.every((n) => /^event\/5b1c00\d\d-/.test(n))).toBe(true)],
];

describe.concurrent('-o on every command that lists or reports', () => {
  it.each(COMMANDS)(
    '%j: -o json is one document, -o yaml the same, -o name KIND/NAME lines',
    async (args, code, names) => {
      const json = JSON.parse(await out([...args, '-o', 'json'], code)) as unknown;
      expect(parseYaml(await out([...args, '-o', 'yaml'], code))).toEqual(json);
      names((await out([...args, '-o', 'name'], code)).split('\n').slice(0, -1));
    },
  );

  // An object met twice (every verdict of one rule shares its omitStages) must be written out
  // each time: `*a3` in place of a value means nothing to grep, awk or a reader skimming.
  it.each(COMMANDS)('%j: -o yaml is plain YAML, no anchors or aliases', async (args, code) => {
    const text = await out([...args, '-o', 'yaml'], code);
    const doc = parseDocument(text);
    let aliases = 0;
    visit(doc, { Alias: () => void aliases++, Node: (_k, n) => void (n.anchor !== undefined && aliases++) });
    expect(aliases).toBe(0);
  });

  it.each<[string[], (doc: Record<string, unknown>) => unknown[]]>([
    [['list'], (doc) => doc.items as unknown[]],
    [['sink', 'list'], (doc) => doc.items as unknown[]],
    [POLICY, (doc) => doc.results as unknown[]],
  ])('%j: -o jsonl prints the items of -o json, one a line', async (args, items) => {
    const lines = (await out([...args, '-o', 'jsonl'])).split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual(
      items(JSON.parse(await out([...args, '-o', 'json'])) as Record<string, unknown>),
    );
  });

  it('list -o json: each lab with mode, receiver, sinks and events stored', async () => {
    const [lab, ...more] = (JSON.parse(await out(['list', '-o', 'json'])) as { items: Record<string, unknown>[] })
      .items;
    expect(more).toEqual([]);
    expect(lab).toMatchObject({
      name: 'audit-lab',
      dir: join(home, 'audit-lab'),
      mode: 'static',
      kubernetesVersion: null,
      cluster: { exists: null },
      receiver: { running: false, pid: null },
      sinks: [{ name: 'default', events: 2 }],
      events: 2,
    });
    expect((lab!.receiver as { url: string }).url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('policy test -o json keeps its fields: per event auditID, rule, level', async () => {
    const doc = JSON.parse(await out([...POLICY, '-o', 'json'])) as {
      policy: string;
      results: Record<string, unknown>[];
      summary: unknown;
    };
    expect(doc.policy).toBe('preset:recommended');
    expect(doc.results).toHaveLength(20);
    for (const r of doc.results) expect(Object.keys(r)).toEqual(expect.arrayContaining(['auditID', 'rule', 'level']));
    expect(doc.summary).toBeDefined();
  });

  it.each<[string[], number, RegExp, RegExp]>([
    [
      ['list'],
      0,
      /^NAME\s+MODE\s+KUBERNETES\s+CLUSTER\s+RECEIVER\s+URL\s+SINKS\s+EVENTS\naudit-lab\s+static\s+-\s+unknown\s+stopped\s+https:\S+\s+default\s+2\n$/,
      /^NAME\s.*\sEVENTS\s+PID\s+IMAGE\s+DIR\naudit-lab\s.*\s2\s+-\s+kind's default\s+\/\S+\/audit-lab\n$/,
    ],
    [
      ['sink', 'list'],
      0,
      /^NAME\s+LEVEL\s+STAGES\s+QPS\/BURST\s+TARGET\s+EVENTS\s+LAST EVENT\n/,
      /^NAME\s+LEVEL\s+POLICY\s+STAGES\s+QPS\s+BURST\s+TARGET\s+EVENTS\s+LAST EVENT\ndefault\s+Metadata\s+-\s+ResponseComplete\s+10\s+15\s+receiver\s+2\s+2026-01-01T00:00:05Z\n$/,
    ],
    [
      ['status'],
      0,
      /^sinks\s+NAME\s+LEVEL\s+STAGES\s+EVENTS\s+LAST EVENT$/m,
      /^sinks\s+NAME\s+LEVEL\s+STAGES\s+EVENTS\s+LAST EVENT\s+URL\n\s+default\s.*\s2026-01-01T00:00:05Z\s+-$/m,
    ],
    [
      ['doctor'],
      1,
      /^✗ kind\s+kind is not on PATH\n\s+fix: install kind/m,
      /^CHECK\s+STATUS\s+MESSAGE\s+FIX\ndocker\s.*\nkind\s+fail\s+kind is not on PATH\s+install kind/m,
    ],
    [POLICY, 0, /^total written\s+20\s/m, /^\s*1\s+5b1c0001-8a2e-4c1f-9d3b-0e7f6a5c4b01\s/m],
  ])('%j: -o wide adds to the table', async (args, code, table, wide) => {
    const plain = await out(args, code);
    expect(plain).toMatch(table);
    expect(plain).not.toMatch(wide);
    expect(await out([...args, '-o', 'wide'], code)).toMatch(wide);
  });

  it('list on a home with no labs: says how to make one, exit 0; -o json is an empty List', async () => {
    const r = await runCli(['list'], { env: emptyEnv });
    expect(r).toMatchObject({ code: 0, stdout: '' });
    expect(r.stderr).toMatch(/^no labs in \S+empty-home: make one with `audit-lab up`/);
    expect(JSON.parse(await out(['list', '-o', 'json'], 0, emptyEnv))).toEqual({
      apiVersion: 'audit-lab/v1',
      kind: 'List',
      metadata: {},
      items: [],
    });
    expect(parseYaml(await out(['list', '-o', 'yaml'], 0, emptyEnv))).toEqual({
      apiVersion: 'audit-lab/v1',
      kind: 'List',
      metadata: {},
      items: [],
    });
    expect(await out(['list', '-o', 'name'], 0, emptyEnv)).toBe('');
  });

  it('list: a lab whose state cannot be read is listed with its problem; the others as usual', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const other = join(dir, 'home');
      const good = labPaths(other, 'good');
      await withLabLock(good, 'test', () => ensureLab(good));
      await mkdir(join(other, 'broken'));
      await writeFile(join(other, 'broken', 'state.json'), '{');
      // Not labs: a file, a directory with no state, a name no lab can have.
      await writeFile(join(other, 'notes.txt'), '');
      await mkdir(join(other, 'empty'));
      await mkdir(join(other, 'Not_A_Lab'));
      await writeFile(join(other, 'Not_A_Lab', 'state.json'), '{}');
      const e = { ...env, AUDIT_LAB_HOME: other };
      const labs = (
        JSON.parse(await out(['list', '-o', 'json'], 0, e)) as {
          items: { name: string; mode: string | null; problem: string | null }[];
        }
      ).items;
      expect(labs.map((l) => [l.name, l.mode])).toEqual([
        ['broken', null],
        ['good', 'static'],
      ]);
      expect(labs[0]!.problem).toMatch(/^lab state \S+\/broken\/state\.json is not valid: not JSON/);
      expect(labs[1]!.problem).toBeNull();
      const r = await runCli(['list'], { env: e });
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^broken\s+-\s+-\s+unknown\s+stopped\s+-\s+-\s+0$/m);
      expect(r.stderr).toMatch(/^warning: lab "broken": lab state \S+ is not valid/m);
    } finally {
      await cleanup();
    }
  });

  it.each<[string[], string]>([
    [['status', '-o', 'jsonl'], 'json, yaml, wide, name'],
    [['doctor', '-o', 'table'], 'json, yaml, wide, name'],
    [['list', '-o', 'xml'], 'json, jsonl, yaml, wide, name'],
    [['sink', 'list', '-o', ''], 'json, jsonl, yaml, wide, name'],
    [['policy', 'test', 'preset:recommended', '-o', 'csv'], 'table, json, jsonl, yaml, wide, name'],
  ])('%j: exit 2, naming the formats this command prints', async (args, formats) => {
    const r = await runCli(args, { env });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`--output ${JSON.stringify(args.at(-1))} is not one of ${formats}`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('--json with another -o is refused, exit 2', async () => {
    const r = await runCli(['status', '--json', '-o', 'yaml'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error: --json is -o json: give one of --json and -o yaml');
  });

  it.each([['list'], ['status'], ['doctor'], ['sink', 'list'], ['policy', 'test']])(
    '%j --help shows -o and an example',
    async (...args) => {
      const help = await out([...args, '--help']);
      expect(help).toMatch(/-o, --output <format>\s+\S/);
      expect(help).toMatch(/Examples:\n\s+\$ audit-lab /);
      expect(help).toMatch(/\$ audit-lab .* -o (json|jsonl|wide|name)/);
    },
  );
});

describe.concurrent('on a terminal', () => {
  const tty = (args: string[]) => runInPty(args, { cols: 200, env: { ...env, NO_COLOR: undefined } });

  it('tables have a bold header; what a program reads (-o json|jsonl|yaml|name) carries no colour', async () => {
    const table = await tty(['list']);
    expect(table.code).toBe(0);
    expect(table.output).toMatch(/\x1b\[1mNAME\s+MODE\s+KUBERNETES/);
    for (const args of [
      ['list', '-o', 'json'],
      ['sink', 'list', '-o', 'jsonl'],
      ['status', '-o', 'yaml'],
      ['sink', 'list', '-o', 'name'],
    ]) {
      const r = await tty(args);
      expect(r.code, args.join(' ')).toBe(0);
      // The cluster warning goes to stderr, which the terminal shows too: only stdout is checked.
      const data = r.output.split('\n').filter((l) => !l.includes('warning:'));
      expect(data.join('\n'), args.join(' ')).not.toMatch(/\x1b/);
    }
  });
});
