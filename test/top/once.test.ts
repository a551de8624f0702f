/**
 * `audit-lab top --no-follow` (or off a terminal, as a process: run `npm run build` first), through
 * `run(argv, io)`, over generated audit log files and lab streams. Every count and byte total is checked
 * against what the test generated, grouped here, from the generated data.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { LabPaths } from '../../src/lab/paths.js';
import { ROOT, runProcess } from '../harness/cli.js';
import { expectedGroups, fileText, generate, keyOf, microTime, printedGroups, type Spec } from '../harness/events.js';
import { makeLab, removeHome, runInHome, tempHome, testDir } from '../harness/lab.js';

interface Printed {
  key: Record<string, unknown>;
  events: number;
  bytes: number;
  eventsPerSecond: number | null;
  share: number;
  lastSeen: string | null;
  other?: boolean;
}
interface Doc {
  by: string[];
  source: Record<string, string[]>;
  window: { seconds: number; from: string; to: string } | null;
  span: { seconds: number; from: string; to: string } | null;
  totals: { events: number; bytes: number; eventsPerSecond: number; bytesPerSecond: number; groups: number };
  read: { events: number; bytes: number };
  skipped: { count: number; first: string; lines: { file: string; line: number; reason: string }[] };
  groups: Printed[];
}

const START = Date.UTC(2026, 10, 29, 10) * 1000;
let home: string;
let dir: string;
let specs: Spec[];
let file: string;

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist/commands/top.js')))
    throw new Error('dist/ has no top command: run `npm run build` first');
  // 3,000 events, 20 a second: 150 s of event time.
  specs = generate({ count: 3000, seed: 7, startMicros: START, perSecond: 20 });
});

beforeEach(async () => {
  home = await tempHome();
  dir = await testDir('audit-lab-top-');
  file = join(dir, 'audit.log');
  await writeFile(file, fileText(specs));
});

afterEach(async () => {
  await removeHome(home);
});

const lines = (s: string) => s.split('\n').filter((l) => l !== '');
const jsonl = (stdout: string) => lines(stdout).map((l) => JSON.parse(l) as Printed);
const json = (stdout: string) => JSON.parse(stdout) as Doc;
const sumEvents = (groups: Map<string, { events: number }>) => [...groups.values()].reduce((n, g) => n + g.events, 0);

describe('top --no-follow over a log file', () => {
  it.each([
    [['user', 'verb', 'resource']],
    [['namespace', 'code']],
    [['stage']],
    [['useragent', 'user']],
    [['resource', 'code', 'verb', 'namespace']],
  ])('--by %j: every group with its events and bytes, as generated', async (keys) => {
    const r = await runInHome(home, ['top', '--no-follow', '--file', file, '--by', keys.join(','), '-o', 'jsonl']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const want = expectedGroups(specs, keys);
    expect(printedGroups(jsonl(r.stdout), keys)).toEqual(want);
    expect(sumEvents(want)).toBe(3000);
  });

  it('--by repeated and in any case is the same as comma-separated', async () => {
    const a = await runInHome(home, [
      'top',
      '--no-follow',
      '--file',
      file,
      '--by',
      'VERB',
      '--by',
      'Code',
      '-o',
      'jsonl',
    ]);
    const b = await runInHome(home, ['top', '--no-follow', '--file', file, '--by', 'verb,code', '-o', 'jsonl']);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(printedGroups(jsonl(a.stdout), ['verb', 'code'])).toEqual(expectedGroups(specs, ['verb', 'code']));
  });

  it('-o json: one document with the totals, the span, the groups sorted by rate and their shares', async () => {
    const r = await runInHome(home, ['top', '--no-follow', '--file', file, '-o', 'json']);
    expect(r.code).toBe(0);
    const doc = json(r.stdout);
    const bytes = Buffer.byteLength(fileText(specs));
    expect(doc.by).toEqual(['user', 'verb', 'resource']);
    expect(doc.source).toEqual({ files: [file] });
    expect(doc.totals).toMatchObject({
      events: 3000,
      bytes,
      groups: expectedGroups(specs, ['user', 'verb', 'resource']).size,
    });
    expect(doc.read).toEqual({ events: 3000, bytes });
    expect(doc.skipped.count).toBe(0);
    expect(doc.window).toBeNull();
    // Whole seconds of event time, the first's to the last's: 150 s of events.
    const seconds = Math.floor(specs.at(-1)!.micros / 1e6) - Math.floor(specs[0]!.micros / 1e6) + 1;
    expect(doc.span).toEqual({
      seconds,
      from: `${microTime(specs[0]!.micros).slice(0, 23)}Z`,
      to: `${microTime(specs.at(-1)!.micros).slice(0, 23)}Z`,
    });
    expect(doc.totals.eventsPerSecond).toBeCloseTo(3000 / seconds, 9);
    const counts = doc.groups.map((g) => g.events);
    expect(counts).toEqual([...counts].sort((a, b) => b - a));
    for (const g of doc.groups) {
      expect(g.share).toBeCloseTo(g.events / 3000, 9);
      expect(g.eventsPerSecond).toBeCloseTo(g.events / seconds, 9);
    }
    // Ties are broken by the key, so the order is the same on every run.
    const again = await runInHome(home, ['top', '--no-follow', '--file', file, '-o', 'json']);
    expect(again.stdout).toBe(r.stdout);
  });

  it('--window: only the last window of event time, up to the newest event', async () => {
    const r = await runInHome(home, [
      'top',
      '--no-follow',
      '--file',
      file,
      '--window',
      '10s',
      '--by',
      'verb',
      '-o',
      'json',
    ]);
    expect(r.code).toBe(0);
    const doc = json(r.stdout);
    // The second of the newest event and the nine before it.
    const lastSecond = Math.floor(specs.at(-1)!.micros / 1e6);
    const inWindow = specs.filter((s) => Math.floor(s.micros / 1e6) > lastSecond - 10);
    expect(inWindow.length).toBeGreaterThan(150);
    expect(inWindow.length).toBeLessThan(250);
    expect(printedGroups(doc.groups, ['verb'])).toEqual(expectedGroups(inWindow, ['verb']));
    expect(doc.window).toEqual({
      seconds: 10,
      from: new Date((lastSecond - 9) * 1000).toISOString(),
      to: new Date((lastSecond + 1) * 1000).toISOString(),
    });
    expect(doc.totals.events).toBe(inWindow.length);
    expect(doc.totals.eventsPerSecond).toBeCloseTo(inWindow.length / 10, 9);
    expect(doc.read.events).toBe(3000);
  });

  // Expected: the generated events each filter keeps.
  it.each<[string[], (s: Spec) => boolean]>([
    [['--verb', 'get'], (s) => s.verb === 'get'],
    [['--verb', 'create', '--verb', 'DELETE'], (s) => s.verb === 'create' || s.verb === 'delete'],
    [['--user', 'kubernetes-admin'], (s) => s.user === 'kubernetes-admin'],
    [['--namespace', 'kube-system'], (s) => s.namespace === 'kube-system'],
    [['--code', '4xx'], (s) => s.code !== undefined && s.code >= 400 && s.code < 500],
    [['--code', '201'], (s) => s.code === 201],
    [['--resource', 'secrets'], (s) => s.resource === 'secrets'],
    [['--resource', 'pods/log'], (s) => s.resource === 'pods' && s.sub === 'log'],
    [['--stage', 'requestreceived'], (s) => s.stage === 'RequestReceived'],
    [['--since', microTime(START + 100_000_000)], (s) => s.micros >= START + 100_000_000],
    [['--verb', 'list', '--namespace', 'default'], (s) => s.verb === 'list' && s.namespace === 'default'],
  ])('%j', async (flags, keep) => {
    const r = await runInHome(home, [
      'top',
      '--no-follow',
      '--file',
      file,
      '--by',
      'user,verb,resource',
      '-o',
      'jsonl',
      ...flags,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const kept = specs.filter(keep);
    expect(kept.length).toBeGreaterThan(0);
    expect(printedGroups(jsonl(r.stdout), ['user', 'verb', 'resource'])).toEqual(
      expectedGroups(kept, ['user', 'verb', 'resource']),
    );
  });

  it('the table off a terminal: every group, numbers right-aligned, no colour and no sparkline', async () => {
    const r = await runInHome(home, ['top', '--no-follow', '--file', file, '--by', 'verb,code']);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/\u001b\[/);
    const out = lines(r.stdout);
    expect(out[0]).toMatch(/^VERB +CODE +EVENTS +EVENTS\/S +SHARE +BYTES +BYTES\/S +LAST SEEN$/);
    const want = expectedGroups(specs, ['verb', 'code']);
    expect(out).toHaveLength(1 + want.size);
    // The busiest group first, with its count and share.
    const [busiest, top] = [...want].sort((a, b) => b[1].events - a[1].events || (a[0] < b[0] ? -1 : 1))[0]!;
    const [verb, code] = JSON.parse(busiest) as [string, number | null];
    expect(out[1]).toMatch(
      new RegExp(`^${verb} +${code ?? '-'} +${top.events} +\\S+ +${((top.events / 3000) * 100).toFixed(1)}% `),
    );
    // A group with no code shows '-'.
    expect(out.some((l) => /^\w+ +- /.test(l))).toBe(true);
  });

  it('--limit N: the N busiest groups, and how many more there are', async () => {
    const r = await runInHome(home, ['top', '--no-follow', '--file', file, '--limit', '3']);
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toHaveLength(4);
    const more = expectedGroups(specs, ['user', 'verb', 'resource']).size - 3;
    expect(r.stderr).toBe(`${more} more groups not shown (--limit N shows N)\n`);
    const j = await runInHome(home, ['top', '--no-follow', '--file', file, '--limit', '2', '-o', 'jsonl']);
    expect(jsonl(j.stdout)).toHaveLength(2);
  });

  it('reads several files, and lists the lines that are not events with their places (exit 2, after the table)', async () => {
    const second = join(dir, 'more.log');
    await writeFile(second, `not json\n${specs[0]!.line}\n{"kind":"Pod"}\n`);
    const r = await runInHome(home, [
      'top',
      '--no-follow',
      '--file',
      file,
      '--file',
      second,
      '--by',
      'verb',
      '-o',
      'json',
    ]);
    expect(r.code).toBe(2);
    const doc = json(r.stdout);
    expect(doc.skipped.count).toBe(2);
    expect(doc.skipped.lines.map((l: { file: string; line: number }) => `${l.file}:${l.line}`)).toEqual([
      `${second}:1`,
      `${second}:3`,
    ]);
    expect(doc.totals.events).toBe(3001);
    expect(printedGroups(doc.groups, ['verb'])).toEqual(expectedGroups([...specs, specs[0]!], ['verb']));
    expect(r.stderr).toMatch(
      /^error: 2 lines are not audit events \(the receiver would refuse them\), so they were left out:\n {2}.*more\.log:1: .*\n {2}.*more\.log:3: /,
    );
  });

  it('an empty file: no rows, and says there are no events', async () => {
    const empty = join(dir, 'empty.log');
    await writeFile(empty, '');
    const r = await runInHome(home, ['top', '--no-follow', '--file', empty]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('no events in file');
    const j = await runInHome(home, ['top', '--no-follow', '--file', empty, '-o', 'json']);
    expect(json(j.stdout)).toMatchObject({
      totals: { events: 0, bytes: 0, eventsPerSecond: null, groups: 0 },
      span: null,
      groups: [],
    });
  });
});

describe("top over a lab's streams", () => {
  let paths: LabPaths;
  // Events of the same generation, split over two sinks.
  const sinkOf = (s: Spec) => (s.verb === 'get' || s.verb === 'list' ? 'reads' : 'writes');

  beforeEach(async () => {
    paths = await makeLab(home, ['reads', 'writes']);
    await writeFile(join(paths.streamsDir, 'reads.log'), fileText(specs.filter((s) => sinkOf(s) === 'reads')));
    await writeFile(join(paths.streamsDir, 'writes.log'), fileText(specs.filter((s) => sinkOf(s) === 'writes')));
  });

  it('--by sink,user: both sinks, merged, counted per sink', async () => {
    const r = await runInHome(home, ['top', '--no-follow', '--by', 'sink,user', '-o', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = json(r.stdout);
    expect(doc.source).toEqual({ sinks: ['reads', 'writes'] });
    expect(printedGroups(doc.groups, ['sink', 'user'])).toEqual(expectedGroups(specs, ['sink', 'user'], sinkOf));
    expect(doc.totals.bytes).toBe(Buffer.byteLength(fileText(specs)));
  });

  it('--sink: that sink alone', async () => {
    const r = await runInHome(home, ['top', '--no-follow', '--sink', 'writes', '--by', 'verb', '-o', 'jsonl']);
    expect(r.code).toBe(0);
    expect(printedGroups(jsonl(r.stdout), ['verb'])).toEqual(
      expectedGroups(
        specs.filter((s) => sinkOf(s) === 'writes'),
        ['verb'],
      ),
    );
  });

  it('off a terminal, following (the default) prints one table and exits, starting no receiver', async () => {
    // No AUDIT_LAB_NO_RECEIVER here: a receiver started by mistake would leave its pid file.
    const r = await runProcess(['top', '--by', 'verb'], { env: { AUDIT_LAB_HOME: home }, timeoutMs: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toHaveLength(1 + expectedGroups(specs, ['verb']).size);
    expect(existsSync(paths.receiverPid)).toBe(false);
  });

  it('a sink the lab does not have is exit 2, naming the ones it has', async () => {
    const r = await runInHome(home, ['top', '--no-follow', '--sink', 'nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/there is no sink named "nope"; the sinks of lab "audit-lab" are: reads, writes/);
  });
});

describe('bad usage is exit 2, naming the flag and what it takes', () => {
  it.each<[string[], RegExp]>([
    [['--by', 'user,nope'], /--by "nope" is not one of user, verb, resource, namespace, code, useragent, stage, sink/],
    [['--by', ','], /--by "," names no key/],
    [['--window', '1.5s'], /--window "1\.5s" is not a duration of whole seconds/],
    [['--window', '0s'], /--window "0s" is not a duration of whole seconds/],
    [['--window', 'soon'], /--window "soon"/],
    [['--limit', '0'], /--limit takes a whole number, 1 or more/],
    [['-o', 'yaml'], /--output "yaml" is not one of table, json, jsonl/],
    [['--code', '99'], /--code "99" is not an HTTP status code/],
    [['--since', 'later'], /--since "later" is neither a duration nor an RFC 3339 time/],
    [['--sink', 'default'], /give either --file or --sink, not both/],
  ])('%j', async (flags, message) => {
    const r = await runInHome(home, ['top', '--no-follow', '--file', file, ...flags]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).toBe('');
  });

  it('with no lab and no --file, says how to make one', async () => {
    const r = await runInHome(home, ['top', '--no-follow']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/there is no lab named "audit-lab"/);
  });
});

describe('what each key shows', () => {
  it('resource: with its group and subresource, or the path of a non-resource request', async () => {
    const r = await runInHome(home, ['top', '--no-follow', '--file', file, '--by', 'resource', '-o', 'jsonl']);
    const shown = jsonl(r.stdout)
      .map((g) => g.key.resource)
      .sort();
    expect(shown).toEqual([
      '/healthz',
      'apps/deployments/scale',
      'coordination.k8s.io/leases',
      'pods',
      'pods/log',
      'secrets',
    ]);
    expect(new Set(specs.map((s) => keyOf(s, 'resource')))).toEqual(new Set(shown));
  });
});
