/**
 * Several sinks hold the same request: `tail` and `top` over a lab show it once (the richest
 * copy), and a deleted sink's streams, still on disk, are left out unless asked for by name. The
 * built CLI as a process (run `npm run build` first) over streams written here.
 */
import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LabPaths } from '../../src/lab/paths.js';
import type { ReadEvent } from '../../src/streams/merge.js';
import { SinkCopies } from '../../src/streams/merge.js';
import type { CliProcess } from '../harness/cli.js';
import { makeLab, removeHome, runInHome, startInHome, tempHome } from '../harness/lab.js';

let home: string;
let paths: LabPaths;
const running: CliProcess[] = [];

beforeEach(async () => {
  home = await tempHome();
  // default: Metadata at ResponseComplete; secrets: RequestResponse at RequestReceived and ResponseComplete.
  paths = await makeLab(home, ['default', 'secrets']);
});

afterEach(async () => {
  for (const r of running.splice(0)) await r.stop('SIGKILL');
  await removeHome(home);
});

const at = (s: number) => `2026-11-29T10:00:${String(s).padStart(2, '0')}.000000Z`;

/** An event as a sink at `level` stores it: the bodies only from Request and RequestResponse. */
function event(
  id: string,
  s: number,
  level: 'Metadata' | 'RequestResponse',
  stage = 'ResponseComplete',
  verb = 'create',
): string {
  const e: Record<string, unknown> = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level,
    auditID: id,
    stage,
    requestURI: '/api/v1/namespaces/default/configmaps',
    verb,
    user: { username: 'kubernetes-admin' },
    objectRef: { resource: 'configmaps', namespace: 'default', name: id, apiVersion: 'v1' },
    responseStatus: { code: 201 },
    requestReceivedTimestamp: at(s),
    stageTimestamp: stage === 'RequestReceived' ? at(s) : at(s).replace('.000000Z', '.500000Z'),
  };
  if (level === 'RequestResponse') e.requestObject = { kind: 'ConfigMap', data: { k: 'v' } };
  return JSON.stringify(e);
}

const put = (sink: string, lines: string[]) =>
  writeFile(join(paths.streamsDir, `${sink}.log`), lines.map((l) => `${l}\n`).join(''));
const add = (sink: string, lines: string[]) =>
  appendFile(join(paths.streamsDir, `${sink}.log`), lines.map((l) => `${l}\n`).join(''));
const lines = (s: string) => s.split('\n').filter((l) => l !== '');
const ids = (s: string) => lines(s).map((l) => (JSON.parse(l) as { auditID: string }).auditID);

describe('one request held by several sinks', () => {
  beforeEach(async () => {
    // "both" is in both sinks at ResponseComplete; secrets also has its RequestReceived stage.
    await put('default', [event('alone', 1, 'Metadata'), event('both', 2, 'Metadata'), event('later', 3, 'Metadata')]);
    await put('secrets', [event('both', 2, 'RequestResponse', 'RequestReceived'), event('both', 2, 'RequestResponse')]);
  });

  it('tail shows it once per stage: the richest copy, its stored line exactly', async () => {
    const r = await runInHome(home, ['tail', '--no-follow', '-o', 'jsonl']);
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stdout)).toEqual([
      event('alone', 1, 'Metadata'),
      event('both', 2, 'RequestResponse', 'RequestReceived'),
      event('both', 2, 'RequestResponse'),
      event('later', 3, 'Metadata'),
    ]);
  });

  it('-o wide names every sink that holds it; the default view the sink of the copy shown', async () => {
    const wide = await runInHome(home, ['tail', '--no-follow', '-o', 'wide']);
    expect(wide.code).toBe(0);
    expect(lines(wide.stdout).filter((l) => l.includes(' both'))).toEqual([
      expect.stringMatching(/ secrets +RequestReceived /),
      expect.stringMatching(/ default,secrets +ResponseComplete /),
    ]);
    const pretty = await runInHome(home, ['tail', '--no-follow']);
    expect(lines(pretty.stdout)).toHaveLength(4);
    expect(lines(pretty.stdout)[2]).toMatch(/ secrets +ResponseComplete /);
  });

  it('--tail N counts it once', async () => {
    const r = await runInHome(home, ['tail', '--no-follow', '-o', 'jsonl', '--tail', '3']);
    expect(lines(r.stdout)).toEqual([
      event('both', 2, 'RequestResponse', 'RequestReceived'),
      event('both', 2, 'RequestResponse'),
      event('later', 3, 'Metadata'),
    ]);
  });

  it('one sink asked for shows its own copy', async () => {
    const r = await runInHome(home, ['tail', '--no-follow', '-o', 'jsonl', '--sink', 'default']);
    expect(lines(r.stdout)).toEqual([
      event('alone', 1, 'Metadata'),
      event('both', 2, 'Metadata'),
      event('later', 3, 'Metadata'),
    ]);
  });

  it('top counts it once in EVENTS and SHARE; --by sink counts each sink its own copy', async () => {
    const r = await runInHome(home, ['top', '--no-follow', '-o', 'json', '--by', 'verb']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      totals: { events: number };
      groups: { key: { verb: string }; events: number; share: number }[];
    };
    expect(doc.totals.events).toBe(4);
    expect(doc.groups).toEqual([expect.objectContaining({ key: { verb: 'create' }, events: 4, share: 1 })]);
    const bySink = JSON.parse((await runInHome(home, ['top', '--no-follow', '-o', 'json', '--by', 'sink'])).stdout) as {
      groups: { key: { sink: string }; events: number }[];
    };
    expect(Object.fromEntries(bySink.groups.map((g) => [g.key.sink, g.events]))).toEqual({ default: 3, secrets: 2 });
  });

  it('following: a copy stored after its event was shown is not shown again', async () => {
    const cli = startInHome(home, ['tail', '-o', 'jsonl']);
    running.push(cli);
    await cli.waitFor((s) => s.includes('"later"'), 'the stored events');
    await add('default', [event('new', 4, 'Metadata')]);
    await cli.waitFor((s) => s.includes('"new"'), 'the first copy');
    await add('secrets', [event('new', 4, 'RequestResponse')]);
    await add('default', [event('marker', 5, 'Metadata')]);
    await cli.waitFor((s) => s.includes('"marker"'), 'the event after it');
    const r = await cli.stop('SIGINT');
    expect(ids(r.stdout)).toEqual(['alone', 'both', 'both', 'later', 'new', 'marker']);
  });
});

describe('a deleted sink', () => {
  beforeEach(async () => {
    await put('default', [event('kept', 1, 'Metadata')]);
    // Streams of a sink no longer in the lab's state, as `sink delete` leaves them.
    await put('gone', [event('old', 2, 'Metadata')]);
  });

  it('tail and top leave it out', async () => {
    const tail = await runInHome(home, ['tail', '--no-follow', '-o', 'jsonl']);
    expect(tail.code, tail.stderr).toBe(0);
    expect(ids(tail.stdout)).toEqual(['kept']);
    const top = JSON.parse((await runInHome(home, ['top', '--no-follow', '-o', 'json'])).stdout) as {
      source: { sinks: string[] };
      totals: { events: number };
    };
    expect(top.source.sinks).toEqual(['default', 'secrets']);
    expect(top.totals.events).toBe(1);
    const table = await runInHome(home, ['top', '--no-follow']);
    expect(table.stdout + table.stderr).not.toContain('gone');
  });

  it('--sink NAME still reads it', async () => {
    const r = await runInHome(home, ['tail', '--no-follow', '-o', 'jsonl', '--sink', 'gone']);
    expect(r.code).toBe(0);
    expect(ids(r.stdout)).toEqual(['old']);
  });

  it('following: lines the receiver writes to it again (a sink of that name made anew) are shown', async () => {
    const cli = startInHome(home, ['tail', '-o', 'jsonl']);
    running.push(cli);
    await cli.waitFor((s) => s.includes('"kept"'), 'the stored events');
    await add('gone', [event('reborn', 3, 'Metadata')]);
    await cli.waitFor((s) => s.includes('"reborn"'), 'the new line');
    const r = await cli.stop('SIGINT');
    expect(ids(r.stdout)).toEqual(['kept', 'reborn']);
  });
});

describe('SinkCopies', () => {
  const read = (sink: string, id: string, level = 'Metadata'): ReadEvent => ({
    sink,
    file: `${sink}.log`,
    lineNo: 1,
    text: '',
    event: { auditID: id, stage: 'ResponseComplete', level },
  });

  it('remembers a bounded number of events: a copy read after that many others is shown again', () => {
    const copies = new SinkCopies(2);
    expect(copies.collapse([read('a', 'x'), read('b', 'x', 'Request')]).map((r) => [r.sink, r.sinks])).toEqual([
      ['b', ['a', 'b']],
    ]);
    expect(copies.collapse([read('c', 'x')])).toEqual([]);
    copies.collapse([read('a', 'y'), read('a', 'z')]);
    expect(copies.collapse([read('d', 'x')]).map((r) => r.sink)).toEqual(['d']);
  });

  it('forgets the least recently stored first: an event a sink stored again counts as new', () => {
    const copies = new SinkCopies(2);
    copies.collapse([read('a', 'x')]);
    copies.collapse([read('a', 'y')]);
    copies.collapse([read('a', 'x')]);
    copies.collapse([read('a', 'z')]);
    expect(copies.collapse([read('b', 'x')])).toEqual([]);
    expect(copies.collapse([read('b', 'y')]).map((r) => r.sink)).toEqual(['b']);
    for (let i = 0; i < 1000; i++) copies.collapse([read('a', `n${i}`)]);
    expect(copies.collapse([read('b', 'n998'), read('b', 'n997')]).map((r) => r.event.auditID)).toEqual(['n997']);
  });

  it('the same sink holding an event twice shows it twice; an event without an auditID is always shown', () => {
    const copies = new SinkCopies();
    expect(copies.collapse([read('a', 'x'), read('a', 'x'), read('a', ''), read('b', '')])).toHaveLength(4);
  });
});
