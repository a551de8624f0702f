/**
 * What a kubectl (or stern) user types first, through `run(argv, io)`: `-n NS`, `version`,
 * `--json` wherever `-o json` is, one List shape for every listing, and LAST EVENT as an age.
 * A lab with stored events and no tools on PATH: nothing real is asked.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ensureLab } from '../../src/lab/lab.js';
import { withLabLock } from '../../src/lab/lock.js';
import { labPaths } from '../../src/lab/paths.js';
import { ensurePrivateDir } from '../../src/lab/fsutil.js';
import { streamFile } from '../../src/streams/names.js';
import { ROOT, runCli } from '../harness/cli.js';
import { tempDir } from '../harness/lab.js';

const AUDIT_LOG = join(ROOT, 'test/fixtures/policy/audit.log');

let env: NodeJS.ProcessEnv;
/** The stored event's time: 30 hours before the test ran, an age that reads `30h` for an hour. */
let lastEvent: string;

beforeAll(async () => {
  const { dir, cleanup } = await tempDir();
  const home = join(dir, 'home');
  const paths = labPaths(home, 'audit-lab');
  await withLabLock(paths, 'test', () => ensureLab(paths));
  await ensurePrivateDir(paths.streamsDir);
  lastEvent = new Date(Date.now() - 30 * 3600_000).toISOString();
  const ev = JSON.stringify({
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: 'e1',
    stage: 'ResponseComplete',
    verb: 'get',
    stageTimestamp: lastEvent,
  });
  await writeFile(streamFile(paths.streamsDir, 'default'), `${ev}\n`);
  const bin = join(dir, 'no-tools');
  await mkdir(bin);
  env = { AUDIT_LAB_HOME: home, PATH: bin };
  return cleanup;
});

async function out(args: string[], code = 0): Promise<string> {
  const r = await runCli(args, { env });
  expect(r.code, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`).toBe(code);
  expect(r.stderr, args.join(' ')).not.toMatch(/\n\s+at /);
  return r.stdout;
}

describe.concurrent('-n is --namespace, as kubectl and stern take it', () => {
  it('tail -n NS shows only that namespace, as --namespace NS does', async () => {
    const short = await out(['tail', '--file', AUDIT_LOG, '--no-follow', '-n', 'kube-system', '-o', 'jsonl']);
    const lines = short.split('\n').slice(0, -1);
    expect(lines).toHaveLength(2);
    for (const l of lines)
      expect((JSON.parse(l) as { objectRef: { namespace: string } }).objectRef.namespace).toBe('kube-system');
    expect(short).toBe(
      await out(['tail', '--file', AUDIT_LOG, '--no-follow', '--namespace', 'kube-system', '-o', 'jsonl']),
    );
  });

  it('top -n NS counts only that namespace, and repeats as --namespace does', async () => {
    const doc = JSON.parse(
      await out([
        'top',
        '--file',
        AUDIT_LOG,
        '--no-follow',
        '--by',
        'namespace',
        '-n',
        'dev',
        '-n',
        'kube-system',
        '-o',
        'json',
      ]),
    ) as { groups: { key: { namespace: string } }[] };
    expect(doc.groups.map((g) => g.key.namespace).sort()).toEqual(['dev', 'kube-system']);
  });
});

describe.concurrent('version', () => {
  const pkg = async () =>
    (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

  it('prints the version of audit-lab and of Node.js; --version stays the bare version', async () => {
    const text = await out(['version']);
    expect(text).toMatch(new RegExp(`^audit-lab\\s+${(await pkg()).replace(/\./g, '\\.')}$`, 'm'));
    expect(text).toMatch(new RegExp(`^node\\s+${process.version.replace(/\./g, '\\.')}$`, 'm'));
    expect(await out(['--version'])).toBe(`${await pkg()}\n`);
  });

  it('-o json is one document; -o yaml the same; --json is -o json', async () => {
    const json = await out(['version', '-o', 'json']);
    expect(JSON.parse(json)).toEqual({
      auditLab: await pkg(),
      node: process.version,
      platform: `${process.platform}/${process.arch}`,
    });
    expect(parseYaml(await out(['version', '-o', 'yaml']))).toEqual(JSON.parse(json));
    expect(await out(['version', '--json'])).toBe(json);
  });
});

describe.concurrent('--json is -o json on every command that prints json', () => {
  const FILE = ['--file', AUDIT_LOG];
  it.each<[string[], number]>([
    [['list'], 0],
    [['status'], 0],
    [['doctor'], 1],
    [['sink', 'list'], 0],
    [['tail', ...FILE, '--no-follow'], 0],
    [['top', ...FILE, '--no-follow'], 0],
    [['policy', 'test', 'preset:recommended', ...FILE], 0],
    [['policy', 'suggest', ...FILE], 0],
  ])('%j --json', async (args, code) => {
    const json = await out([...args, '--json'], code);
    expect(() => JSON.parse(json) as unknown).not.toThrow();
    expect(json).toBe(await out([...args, '-o', 'json'], code));
  });

  it.each([
    [['tail', '--file', AUDIT_LOG, '--no-follow', '--json', '-o', 'jsonl'], 'jsonl'],
    [['top', '--file', AUDIT_LOG, '--no-follow', '--json', '-o', 'table'], 'table'],
    [['policy', 'suggest', '--file', AUDIT_LOG, '-o', 'yaml', '--json'], 'yaml'],
  ])('%j: --json with another -o is exit 2, naming both', async (args, other) => {
    const r = await runCli(args, { env });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`--json is -o json: give one of --json and -o ${other}`);
  });
});

describe.concurrent('every listing is one List: apiVersion, kind, metadata, items', () => {
  it.each([[['list']], [['sink', 'list']]])('%j -o json and -o yaml', async (args) => {
    const doc = JSON.parse(await out([...args, '-o', 'json'])) as Record<string, unknown>;
    expect(Object.keys(doc)).toEqual(['apiVersion', 'kind', 'metadata', 'items']);
    expect(doc).toMatchObject({ apiVersion: 'audit-lab/v1', kind: 'List' });
    expect(parseYaml(await out([...args, '-o', 'yaml']))).toEqual(doc);
    // -o jsonl prints the same items, one a line.
    const lines = (await out([...args, '-o', 'jsonl'])).split('\n').slice(0, -1);
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual(doc.items);
  });

  it('sink list: the lab, its mode and where the sinks come from are the List metadata', async () => {
    const doc = JSON.parse(await out(['sink', 'list', '-o', 'json'])) as {
      metadata: Record<string, unknown>;
      items: { name: string }[];
    };
    expect(doc.metadata).toMatchObject({ lab: 'audit-lab', mode: 'static' });
    expect(doc.items.map((s) => s.name)).toEqual(['default']);
  });

  it('list on a home with no labs: an empty List', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const r = await runCli(['list', '-o', 'json'], { env: { ...env, AUDIT_LAB_HOME: dir } });
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ apiVersion: 'audit-lab/v1', kind: 'List', metadata: {}, items: [] });
    } finally {
      await cleanup();
    }
  });
});

describe.concurrent('LAST EVENT is an age in the table, the time in -o wide and -o json', () => {
  it('sink list', async () => {
    expect(await out(['sink', 'list'])).toMatch(/^default\s.*\s1\s+30h$/m);
    expect(await out(['sink', 'list', '-o', 'wide'])).toMatch(
      new RegExp(`^default\\s.*\\s1\\s+${lastEvent.replace(/\./g, '\\.')}$`, 'm'),
    );
    expect(
      (JSON.parse(await out(['sink', 'list', '-o', 'json'])) as { items: { lastEvent: string }[] }).items[0]!.lastEvent,
    ).toBe(lastEvent);
  });

  it('status', async () => {
    expect(await out(['status'])).toMatch(/^\s+default\s+Metadata\s+ResponseComplete\s+1\s+30h$/m);
    expect(await out(['status', '-o', 'wide'])).toContain(` ${lastEvent} `);
    expect(
      (JSON.parse(await out(['status', '-o', 'json'])) as { sinks: { lastEvent: string }[] }).sinks[0]!.lastEvent,
    ).toBe(lastEvent);
  });
});
