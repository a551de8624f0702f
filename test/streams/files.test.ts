/**
 * Reading audit log files through the --file source (src/streams/source.ts readSource), in
 * process: formats, time order across files, bad lines with their places, bounded batches,
 * --tail N, and the line splitter and time parsing it stands on.
 */
import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { nestingOver } from '../../src/audit/eventShape.js';
import { timestampMicros } from '../../src/audit/filter.js';
import { SKIPPED_KEPT } from '../../src/streams/events.js';
import { MAX_DOCUMENT_CHARS } from '../../src/streams/jsonDocument.js';
import { MAX_BATCH } from '../../src/streams/reading.js';
import { LineSplitter, MAX_LINE_BYTES } from '../../src/streams/logLines.js';
import type { ReadEvent } from '../../src/streams/merge.js';
import { readSource, type SourceQuery } from '../../src/streams/source.js';
import { testDir } from '../harness/lab.js';
import { at, byTime, event, eventList, ids, linesOf, logText, writeLog } from './logs.js';

const query = (o: Partial<SourceQuery> = {}): SourceQuery => ({
  tail: -1,
  matches: () => true,
  follow: false,
  signal: new AbortController().signal,
  pollMs: 10,
  ...o,
});

/** Reads `names` (files in `dir`, or '-' with `stdin`) to the end: every event, each batch's size, and what was skipped. */
async function read(dir: string, names: string[], o: { q?: Partial<SourceQuery>; stdin?: NodeJS.ReadableStream } = {}) {
  const events: ReadEvent[] = [];
  const batches: { size: number; storedDone: boolean }[] = [];
  const files = names.map((n) => ({ path: n === '-' ? '-' : join(dir, n), shown: n }));
  const skipped = await readSource({ kind: 'files', files, stdin: o.stdin }, query(o.q), (evs, storedDone) => {
    events.push(...evs);
    batches.push({ size: evs.length, storedDone });
  });
  return { events, batches, skipped, ids: events.map((e) => e.event.auditID as string) };
}

const series = (prefix: string, n: number, startMs: number, stepMs: number) =>
  Array.from({ length: n }, (_, i) => event(`${prefix}${i}`, startMs + i * stepMs));

describe('--file formats', () => {
  it('reads a plain log: every line an event, each with its file and line number, stored lines kept as they are', async () => {
    const dir = await testDir();
    const evs = series('p', 5, 0, 1000);
    await writeLog(join(dir, 'audit.log'), evs);
    const r = await read(dir, ['audit.log']);
    expect(r.ids).toEqual(ids(evs));
    expect(r.events.map((e) => [e.sink, e.file, e.lineNo])).toEqual(
      evs.map((_, i) => ['audit.log', 'audit.log', i + 1]),
    );
    expect(r.events.map((e) => e.text)).toEqual(evs.map((e) => JSON.stringify(e)));
    expect(r.batches.at(-1)!.storedDone).toBe(true);
  });

  it('reads gzip by its magic bytes, whatever the name', async () => {
    const dir = await testDir();
    const evs = series('g', 4, 0, 1000);
    await writeLog(join(dir, 'audit.log'), evs, { gzip: true }); // no .gz
    await writeLog(join(dir, 'plain.gz'), series('q', 2, 10_000, 1000)); // .gz, not gzip
    const r = await read(dir, ['audit.log', 'plain.gz']);
    expect(r.ids).toEqual(['g0', 'g1', 'g2', 'g3', 'q0', 'q1']);
    expect(r.skipped.count).toBe(0);
  });

  it('v1beta1 lines are events (their deprecated fields dropped from the event, the line kept)', async () => {
    const dir = await testDir();
    const evs = [event('b0', 0, { version: 'v1beta1' }), event('b1', 1000)];
    await writeLog(join(dir, 'old.log'), evs);
    const r = await read(dir, ['old.log']);
    expect(r.ids).toEqual(['b0', 'b1']);
    expect(r.events[0]!.event).not.toHaveProperty('timestamp');
    expect(r.events[0]!.text).toBe(JSON.stringify(evs[0]));
  });

  it('an EventList document over many lines: each item placed at the line it starts on', async () => {
    const dir = await testDir();
    const evs = series('l', 6, 0, 1000);
    const text = eventList(evs);
    await writeFile(join(dir, 'list.json'), text);
    const r = await read(dir, ['list.json']);
    expect(r.ids).toEqual(ids(evs));
    expect(r.events.map((e) => e.lineNo)).toEqual(linesOf(text, ids(evs)));
    // Items become log lines: v1 kind and apiVersion first, as the API server writes an Event.
    expect(JSON.parse(r.events[0]!.text)).toEqual(evs[0]);
  });

  it('an EventList item that is not an event is refused alone, at its line, with its index', async () => {
    const dir = await testDir();
    const evs = series('l', 4, 0, 1000);
    evs[2] = { ...evs[2], stage: 'Done' };
    const text = eventList(evs, 'v1beta1');
    await writeFile(join(dir, 'list.json'), text);
    const r = await read(dir, ['list.json']);
    expect(r.ids).toEqual(['l0', 'l1', 'l3']);
    expect(r.skipped.count).toBe(1);
    expect(r.skipped.lines).toEqual([
      { file: 'list.json', line: linesOf(text, ['l2'])[0], reason: 'items[2]: stage "Done" is not an audit stage' },
    ]);
  });

  it('a document with its keys sorted (jq -S: items before kind) is read item by item, each at its line', async () => {
    const dir = await testDir();
    const evs = series('s', 3, 0, 1000);
    const sorted = `${JSON.stringify({ apiVersion: 'audit.k8s.io/v1', items: evs.map(({ kind: _k, apiVersion: _v, ...r }) => r), kind: 'EventList', metadata: {} }, null, 2)}\n`;
    await writeFile(join(dir, 'sorted.json'), sorted);
    const r = await read(dir, ['sorted.json']);
    expect(r.ids).toEqual(ids(evs));
    expect(r.events.map((e) => e.lineNo)).toEqual(linesOf(sorted, ids(evs)));
    expect(r.skipped.count).toBe(0);
  });

  it('items read before a kind that is not EventList: the document is refused at its first line, as a whole read refuses it', async () => {
    const dir = await testDir();
    const evs = series('k', 2, 0, 1000);
    const text = `${JSON.stringify({ apiVersion: 'audit.k8s.io/v1', items: evs.map(({ kind: _k, apiVersion: _v, ...r }) => r), kind: 'PodList' }, null, 2)}\n`;
    await writeFile(join(dir, 'pods.json'), text);
    const r = await read(dir, ['pods.json']);
    expect(r.skipped.lines).toEqual([
      {
        file: 'pods.json',
        line: 1,
        reason: 'kind "PodList"; want an EventList or an Event (audit.k8s.io/v1 or v1beta1)',
      },
    ]);
  });

  it('a JSON array read element by element: Events and EventLists, each at its line, a bad one refused alone with its index', async () => {
    const dir = await testDir();
    const evs = series('a', 4, 0, 1000);
    const elements = [
      evs[0],
      { ...evs[1], auditID: undefined },
      { kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [evs[2], { ...evs[3], level: 'Loud' }] },
      'text',
      evs[3],
    ];
    const text = `${JSON.stringify(elements, null, 2)}\n`;
    await writeFile(join(dir, 'array.json'), text);
    const r = await read(dir, ['array.json']);
    expect(r.ids).toEqual(['a0', 'a2', 'a3']);
    const starts = text.split('\n').flatMap((l, i) => (/^ {2}[{"]/.test(l) ? [i + 1] : []));
    expect(r.events.map((e) => e.lineNo)).toEqual([starts[0], starts[2], starts[4]]);
    expect(r.skipped.lines.map((l) => [l.line, l.reason])).toEqual([
      [starts[1], '[1]: no auditID'],
      [starts[2], '[2].items[1]: level "Loud" is not an audit level'],
      [starts[3], '[3]: not a JSON object'],
    ]);
  });

  it(`an item longer than ${MAX_DOCUMENT_CHARS / 1024 / 1024} MiB is refused alone, not held; the items after it are read`, async () => {
    const dir = await testDir();
    const evs = series('x', 3, 0, 1000);
    const big = { ...evs[1], annotations: { pad: 'p'.repeat(MAX_DOCUMENT_CHARS) } };
    const text = eventList([evs[0]!, big, evs[2]!]);
    await writeFile(join(dir, 'big.json'), text);
    const r = await read(dir, ['big.json']);
    expect(r.ids).toEqual(['x0', 'x2']);
    expect(r.skipped.lines.map((l) => [l.line, l.reason])).toEqual([
      [linesOf(text, ['x1'])[0], expect.stringMatching(/^items\[1\]: longer than 16 MiB/)],
    ]);
  });

  it('Events pretty-printed one after another (jq . of a log), each at its first line', async () => {
    const dir = await testDir();
    const evs = series('j', 3, 0, 1000);
    const text = evs.map((e) => `${JSON.stringify(e, null, 2)}\n`).join('');
    await writeFile(join(dir, 'pretty.json'), text);
    const r = await read(dir, ['pretty.json']);
    expect(r.ids).toEqual(ids(evs));
    const lines = text.split('\n');
    expect(r.events.map((e) => e.lineNo)).toEqual(lines.flatMap((l, i) => (l === '{' ? [i + 1] : [])));
  });

  it('a document cut short is refused where it (or its open item) starts', async () => {
    const dir = await testDir();
    const text = eventList(series('c', 3, 0, 1000));
    const cut = text.slice(0, text.indexOf('"auditID": "c2"') + 5);
    await writeFile(join(dir, 'cut.json'), cut);
    const r = await read(dir, ['cut.json']);
    expect(r.ids).toEqual(['c0', 'c1']);
    expect(r.skipped.lines.map((l) => [l.line, l.reason])).toEqual([
      [linesOf(text, ['c2'])[0], 'items[2]: malformed JSON: the input ends inside it'],
    ]);
  });

  it('standard input, gzip or not', async () => {
    const dir = await testDir();
    const evs = series('i', 3, 0, 1000);
    const plain = await read(dir, ['-'], { stdin: Readable.from([Buffer.from(logText(evs))]) });
    expect(plain.ids).toEqual(ids(evs));
    expect(plain.events[0]!.file).toBe('-');
    const text = logText(evs);
    const zipped = gzipSync(text);
    // In small pieces, the magic bytes split from the rest.
    const pieces = Array.from({ length: Math.ceil(zipped.length / 7) }, (_, i) => zipped.subarray(i * 7, i * 7 + 7));
    expect((await read(dir, ['-'], { stdin: Readable.from(pieces) })).ids).toEqual(ids(evs));
    // The two magic bytes in two pieces.
    expect((await read(dir, ['-'], { stdin: Readable.from([zipped.subarray(0, 1), zipped.subarray(1)]) })).ids).toEqual(
      ids(evs),
    );
  });

  it('a corrupt gzip file: what came before is read, then the break is reported at its line', async () => {
    const dir = await testDir();
    const zipped = gzipSync(logText(series('z', 2000, 0, 10)));
    await writeFile(join(dir, 'cut.log.gz'), zipped.subarray(0, Math.floor(zipped.length / 2)));
    const r = await read(dir, ['cut.log.gz']);
    expect(r.events.length).toBeGreaterThan(0);
    expect(r.events.length).toBeLessThan(2000);
    expect(r.ids).toEqual(ids(series('z', r.events.length, 0, 10)));
    expect(r.skipped.count).toBe(1);
    expect(r.skipped.lines[0]!.line).toBe(r.events.length + 1);
    expect(r.skipped.lines[0]!.reason).toMatch(/^gzip data is corrupt or cut short/);
  });
});

describe('--file with lines that are not events', () => {
  it("counts every one and keeps the first ones with file, line and the receiver's reason", async () => {
    const dir = await testDir();
    const good = series('e', 3, 0, 1000);
    const bad = [
      'not json',
      '{"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseComplete","level":"Metadata"}',
      '42',
    ];
    await writeFile(
      join(dir, 'mixed.log'),
      [JSON.stringify(good[0]), bad[0], '', JSON.stringify(good[1]), bad[1], bad[2], JSON.stringify(good[2])].join(
        '\n',
      ),
    );
    const r = await read(dir, ['mixed.log']);
    expect(r.ids).toEqual(['e0', 'e1', 'e2']);
    expect(r.events.map((e) => e.lineNo)).toEqual([1, 4, 7]);
    expect(r.skipped.count).toBe(3);
    expect(r.skipped.lines.map((l) => [l.file, l.line])).toEqual([
      ['mixed.log', 2],
      ['mixed.log', 5],
      ['mixed.log', 6],
    ]);
    expect(r.skipped.lines.map((l) => l.reason)).toEqual([
      expect.stringMatching(/^malformed JSON: /),
      'no auditID',
      'JSON number; want an EventList or an Event',
    ]);
    expect(r.skipped.first).toBe(`mixed.log:2: ${r.skipped.lines[0]!.reason}`);
  });

  it(`keeps the places of the first ${SKIPPED_KEPT}, and counts the rest`, async () => {
    const dir = await testDir();
    await writeFile(join(dir, 'junk.log'), Array.from({ length: 50 }, (_, i) => `junk ${i}`).join('\n'));
    const r = await read(dir, ['junk.log']);
    expect(r.skipped.count).toBe(50);
    expect(r.skipped.lines.map((l) => l.line)).toEqual(Array.from({ length: SKIPPED_KEPT }, (_, i) => i + 1));
  });

  it('a line too long to hold is refused, and the next line read', async () => {
    const dir = await testDir();
    const path = join(dir, 'long.log');
    await writeFile(path, `${JSON.stringify(event('a', 0))}\n`);
    const chunk = Buffer.alloc(8 * 1024 * 1024, 0x61);
    for (let n = 0; n <= MAX_LINE_BYTES; n += chunk.length) await appendFile(path, chunk);
    await appendFile(path, `\n${JSON.stringify(event('b', 1000))}\n`);
    const r = await read(dir, ['long.log']);
    expect(r.ids).toEqual(['a', 'b']);
    expect(r.events.map((e) => e.lineNo)).toEqual([1, 3]);
    expect(r.skipped.lines.map((l) => l.line)).toEqual([2]);
    expect(r.skipped.lines[0]!.reason).toMatch(
      new RegExp(`^a line of \\d+ bytes, over the ${MAX_LINE_BYTES / 1024 / 1024} MiB`),
    );
  });

  it('a file that cannot be read is a UserError before anything is shown', async () => {
    const dir = await testDir();
    await writeLog(join(dir, 'audit.log'), series('x', 2, 0, 1000));
    let shown = 0;
    const files = ['audit.log', 'missing.log'].map((n) => ({ path: join(dir, n), shown: n }));
    await expect(readSource({ kind: 'files', files }, query(), () => void shown++)).rejects.toThrow(
      'cannot read audit log missing.log: no such file',
    );
    await expect(
      readSource({ kind: 'files', files: [{ path: dir, shown: 'dir' }] }, query(), () => void shown++),
    ).rejects.toThrow('cannot read audit log dir: it is a directory');
    expect(shown).toBe(0);
  });
});

describe('--file: several files in time order', () => {
  it('a rotated set given out of order comes out oldest first', async () => {
    const dir = await testDir();
    const a = series('a', 5, 0, 1000);
    const b = series('b', 5, 10_000, 1000);
    const c = series('c', 5, 20_000, 1000);
    await writeLog(join(dir, 'audit-2026-11-29T09-00-00.000.log'), a);
    await writeLog(join(dir, 'audit-2026-11-29T09-00-10.000.log.gz'), b, { gzip: true });
    await writeLog(join(dir, 'audit.log'), c);
    // Middle, newest, oldest: neither the order given nor its reverse.
    const r = await read(dir, [
      'audit-2026-11-29T09-00-10.000.log.gz',
      'audit.log',
      'audit-2026-11-29T09-00-00.000.log',
    ]);
    expect(r.ids).toEqual(ids([...a, ...b, ...c]));
    expect(r.events.map((e) => e.sink)).toEqual([
      ...a.map(() => 'audit-2026-11-29T09-00-00.000.log'),
      ...b.map(() => 'audit-2026-11-29T09-00-10.000.log.gz'),
      ...c.map(() => 'audit.log'),
    ]);
  });

  it('overlapping files (two API servers) are merged by event time, each keeping its own order', async () => {
    const dir = await testDir();
    const one = series('one', 40, 0, 1000);
    const two = series('two', 40, 500, 1000);
    // A long watch: received early, logged late, in file order; it sorts by when it was received.
    const watch = event('watch', 3_200, { tookMs: 30_000, verb: 'watch' });
    two.splice(35, 0, watch);
    await writeLog(join(dir, 'one.log'), one);
    await writeLog(join(dir, 'two.log'), two);
    const r = await read(dir, ['two.log', 'one.log']);
    // Each file's own order is kept; across files, the earlier head goes first.
    const expected: string[] = [];
    let i = 0;
    let j = 0;
    const k = (e: Record<string, unknown>) => `${String(e.requestReceivedTimestamp)} ${String(e.stageTimestamp)}`;
    while (i < one.length || j < two.length) {
      if (j >= two.length || (i < one.length && k(one[i]!) < k(two[j]!))) expected.push(one[i++]!.auditID as string);
      else expected.push(two[j++]!.auditID as string);
    }
    expect(r.ids).toEqual(expected);
    // The watch is not held back to its time: it comes out as soon as it heads its file.
    expect(r.ids.indexOf('watch')).toBe(r.ids.indexOf('two34') + 1);
    // Without the watch, the merge is a plain sort by time.
    expect(r.ids.filter((x) => x !== 'watch')).toEqual(ids(byTime([...one, ...two.filter((e) => e !== watch)])));
  });

  it('the same file named twice is read once', async () => {
    const dir = await testDir();
    await writeLog(join(dir, 'audit.log'), series('d', 3, 0, 1000));
    expect((await read(dir, ['audit.log', 'audit.log'])).ids).toEqual(['d0', 'd1', 'd2']);
  });
});

describe('--file in bounded memory', () => {
  it(`hands events over in batches of at most ${MAX_BATCH}, the last one marked`, async () => {
    const dir = await testDir();
    const n = 25_000;
    await writeLog(join(dir, 'big.log'), series('n', n, 0, 1));
    const r = await read(dir, ['big.log']);
    expect(r.events.length).toBe(n);
    expect(Math.max(...r.batches.map((b) => b.size))).toBeLessThanOrEqual(MAX_BATCH);
    expect(r.batches.filter((b) => b.storedDone)).toHaveLength(1);
    expect(r.batches.at(-1)!.storedDone).toBe(true);
  });

  it('--tail N: the last N that pass the filter, across files', async () => {
    const dir = await testDir();
    await writeLog(join(dir, 'a.log'), series('a', 30, 0, 1000));
    await writeLog(join(dir, 'b.log'), series('b', 30, 100_000, 1000));
    const even = (e: { auditID?: unknown }) => Number(String(e.auditID).slice(1)) % 2 === 0;
    expect((await read(dir, ['b.log', 'a.log'], { q: { tail: 4, matches: even } })).ids).toEqual([
      'b22',
      'b24',
      'b26',
      'b28',
    ]);
    expect((await read(dir, ['b.log', 'a.log'], { q: { tail: 0 } })).ids).toEqual([]);
    expect((await read(dir, ['a.log'], { q: { tail: 100 } })).ids).toHaveLength(30);
    const since = timestampMicros(at(25_000))!;
    expect((await read(dir, ['a.log'], { q: { since } })).ids).toEqual(['a25', 'a26', 'a27', 'a28', 'a29']);
  });
});

describe('LineSplitter', () => {
  it('splits bytes into lines wherever the chunks cut them, a UTF-8 character included', () => {
    const text = 'ünïcödé 🎉 one\r\ntwo\n\nthree 🎉\nlast';
    const bytes = Buffer.from(text);
    for (let size = 1; size <= bytes.length; size++) {
      const got: [number, string][] = [];
      const s = new LineSplitter();
      const to = { line: (t: string, n: number) => got.push([n, t]), overlong: () => got.push([-1, '']) };
      for (let i = 0; i < bytes.length; i += size) s.push(bytes.subarray(i, i + size), to);
      expect(s.partial).toBe(true);
      s.rest(to);
      expect(got).toEqual(text.split('\n').map((l, i) => [i + 1, l.replace(/\r$/, '')]));
    }
  });
});

describe('the fast paths the reader relies on give the same answers', () => {
  it('timestampMicros: the API server form, read after its minute, equals the general parse', () => {
    const general = (v: string) => {
      const m = /^(.*T\d\d:\d\d:\d\d)\.(\d{6})Z$/.exec(v)!;
      return Date.parse(`${m[1]}Z`) * 1000 + Number(m[2]);
    };
    for (const v of [
      '2026-11-29T09:00:00.000000Z',
      '2026-11-29T09:00:59.999999Z',
      '2026-11-29T09:01:00.000001Z',
      '2024-02-29T23:59:07.123456Z',
      '2026-11-29T09:00:07.000010Z',
    ]) {
      expect(timestampMicros(v)).toBe(general(v));
      expect(timestampMicros(v)).toBe(general(v)); // the second read takes the fast path
    }
    expect(timestampMicros('2026-11-29T09:00:60.000000Z')).toBeUndefined();
    expect(timestampMicros('2026-11-29T09:00:0x.000000Z')).toBeUndefined();
    expect(timestampMicros('2026-11-29t09:00:07.000000Z')).toBe(general('2026-11-29T09:00:07.000000Z'));
  });

  it('nestingOver: a deep value is found whatever its bracket count, a shallow one with many brackets passes', () => {
    expect(nestingOver(`${'['.repeat(600)}${']'.repeat(600)}`)).toBe(512);
    expect(nestingOver(JSON.stringify({ a: Array.from({ length: 700 }, () => ({})) }))).toBe(-1);
    expect(nestingOver(`"${'['.repeat(600)}"`)).toBe(-1);
  });
});
