import { appendFile, mkdir, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { followStreams, listStreamSinks, StreamReader, type StreamLine } from '../../src/streams/follow.js';
import { parseStreamFileName } from '../../src/streams/names.js';
import { removeHome, tempHome } from '../harness/lab.js';

let dir: string;
let home: string;
const readers: StreamReader[] = [];

beforeEach(async () => {
  home = await tempHome();
  dir = join(home, 'streams');
  await mkdir(dir);
});

afterEach(async () => {
  for (const r of readers.splice(0)) await r.close();
  await removeHome(home);
});

function reader(opts: ConstructorParameters<typeof StreamReader>[1] = {}): StreamReader {
  const r = new StreamReader(dir, opts);
  readers.push(r);
  return r;
}

const texts = (lines: StreamLine[]) => lines.map((l) => `${l.sink}:${l.text}`);
const put = (name: string, text: string) => writeFile(join(dir, name), text);
const add = (name: string, text: string) => appendFile(join(dir, name), text);

/** What the receiver does (streams.ts): shift .N up, rename <sink>.log to .1, start a new one. */
async function rotate(sink: string, maxBackups = 5): Promise<void> {
  const base = join(dir, `${sink}.log`);
  await rm(`${base}.${maxBackups}`, { force: true });
  for (let i = maxBackups - 1; i >= 1; i--) await rename(`${base}.${i}`, `${base}.${i + 1}`).catch(() => {});
  await rename(base, `${base}.1`);
  await writeFile(base, '');
}

describe('parseStreamFileName', () => {
  it.each([
    ['default.log', { stem: 'default', generation: 0 }],
    ['default.log.1', { stem: 'default', generation: 1 }],
    ['default.log.12', { stem: 'default', generation: 12 }],
    ['my.sink.log', { stem: 'my.sink', generation: 0 }],
    ['a.log.log.2', { stem: 'a.log', generation: 2 }],
    ['default.log.0', null],
    ['default.txt', null],
    ['.log', null],
    ['default.log.tmp', null],
  ])('%s', (name, want) => expect(parseStreamFileName(name)).toEqual(want));
});

describe('listStreamSinks', () => {
  it('lists sinks by their files, rotated-only ones too, and nothing for a missing directory', async () => {
    await put('b.log', '');
    await put('a.log.1', '');
    await put('notes.txt', '');
    expect(await listStreamSinks(dir)).toEqual(['a', 'b']);
    expect(await listStreamSinks(join(dir, 'nope'))).toEqual([]);
  });
});

describe('StreamReader', () => {
  it('first reads everything stored, rotated files oldest first, then only what is new', async () => {
    await put('default.log.2', 'a1\na2\n');
    await put('default.log.1', 'b1\n');
    await put('default.log', 'c1\nc2\n');
    const r = reader();
    expect(texts(await r.poll())).toEqual(['default:a1', 'default:a2', 'default:b1', 'default:c1', 'default:c2']);
    expect(await r.poll()).toEqual([]);
    await add('default.log', 'c3\n');
    expect(texts(await r.poll())).toEqual(['default:c3']);
  });

  it('tells where each line came from', async () => {
    await put('default.log.1', 'x\ny\n');
    await put('default.log', 'z\n');
    const lines = await reader().poll();
    expect(lines.map((l) => `${l.file}:${l.lineNo}`)).toEqual(['default.log.1:1', 'default.log.1:2', 'default.log:1']);
  });

  it('never hands out a line before its newline', async () => {
    await put('default.log', 'one\ntw');
    const r = reader();
    expect(texts(await r.poll())).toEqual(['default:one']);
    expect(await r.poll()).toEqual([]);
    await add('default.log', 'o');
    expect(await r.poll()).toEqual([]);
    await add('default.log', '\nthree\n');
    expect(texts(await r.poll())).toEqual(['default:two', 'default:three']);
  });

  it('finishes a rotated file before the new one, and reads each line once', async () => {
    await put('default.log', 'l1\n');
    const r = reader();
    expect(texts(await r.poll())).toEqual(['default:l1']);
    await add('default.log', 'l2\n');
    await rotate('default');
    await add('default.log', 'l3\n');
    expect(texts(await r.poll())).toEqual(['default:l2', 'default:l3']);
    await add('default.log', 'l4\n');
    expect(texts(await r.poll())).toEqual(['default:l4']);
    expect(await r.poll()).toEqual([]);
  });

  it('reads a file that was <sink>.log only between two polls (two rotations at once)', async () => {
    await put('default.log', 'l1\n');
    const r = reader();
    await r.poll();
    await add('default.log', 'l2\n');
    await rotate('default');
    await add('default.log', 'm1\nm2\n');
    await rotate('default');
    await add('default.log', 'n1\n');
    expect(texts(await r.poll())).toEqual(['default:l2', 'default:m1', 'default:m2', 'default:n1']);
    expect(await r.poll()).toEqual([]);
  });

  it('catches the moment between the rename and the new file', async () => {
    await put('default.log', 'l1\n');
    const r = reader();
    await r.poll();
    await add('default.log', 'l2\n');
    await rename(join(dir, 'default.log'), join(dir, 'default.log.1'));
    expect(texts(await r.poll())).toEqual(['default:l2']);
    await put('default.log', 'n1\n');
    expect(texts(await r.poll())).toEqual(['default:n1']);
  });

  it('keeps reading when the oldest rotated file is deleted (maxBackups reached)', async () => {
    await put('default.log', 'a\n');
    const r = reader();
    await r.poll();
    for (const [i, line] of ['b', 'c', 'd'].entries()) {
      await rotate('default', 1); // keeps only default.log.1
      await add('default.log', `${line}\n`);
      expect(texts(await r.poll()), `round ${i}`).toEqual([`default:${line}`]);
    }
  });

  it('with no backups kept, the file is removed and a new one started', async () => {
    await put('default.log', 'a\n');
    const r = reader();
    await r.poll();
    await add('default.log', 'b\n');
    await rotate('default', 0);
    await add('default.log', 'c\n');
    expect(texts(await r.poll())).toEqual(['default:b', 'default:c']);
  });

  it('picks up sinks that appear later, from their first line', async () => {
    const r = reader();
    expect(await r.poll()).toEqual([]);
    await put('late.log', 'x1\n');
    await put('early.log', 'y1\n');
    expect(texts(await r.poll())).toEqual(['early:y1', 'late:x1']);
  });

  it('starts over when a file is truncated in place', async () => {
    await put('default.log', 'a\nb\n');
    const r = reader();
    await r.poll();
    await truncate(join(dir, 'default.log'), 0);
    await add('default.log', 'c\n');
    expect(texts(await r.poll())).toEqual(['default:c']);
  });

  it('reads only the sink asked for', async () => {
    await put('default.log', 'a\n');
    await put('secrets.log', 's\n');
    await put('secrets.log.1', 'r\n');
    expect(texts(await reader({ sink: 'secrets' }).poll())).toEqual(['secrets:r', 'secrets:s']);
  });

  it('waits for a rotated file that ends without a newline, then takes its last line', async () => {
    await put('default.log.1', 'a\npartial');
    await put('default.log', 'b\n');
    const r = reader({ graceTicks: 2 });
    expect(texts(await r.poll())).toEqual(['default:a']);
    expect(await r.poll()).toEqual([]);
    expect(texts(await r.poll())).toEqual(['default:partial', 'default:b']);
  });

  it('reading once (grace 0) takes a rotated file as it is', async () => {
    await put('default.log.1', 'a\npartial');
    await put('default.log', 'b\nunfinished');
    expect(texts(await reader({ graceTicks: 0 }).poll())).toEqual(['default:a', 'default:partial', 'default:b']);
  });

  it('keeps bytes as they are: UTF-8 and \\r survive', async () => {
    await put('default.log', 'é ü 日本\r\n{"a":1}\n');
    expect((await reader().poll()).map((l) => l.text)).toEqual(['é ü 日本\r', '{"a":1}']);
  });

  it('reads lines longer than its read size', async () => {
    const long = 'x'.repeat(9 * 1024 * 1024);
    await put('default.log', `short\n${long}\nend\n`);
    const lines = await reader().poll();
    expect(lines.map((l) => l.text.length)).toEqual([5, long.length, 3]);
  });

  it('a missing streams directory reads as empty, and is picked up when it appears', async () => {
    await rm(dir, { recursive: true });
    const r = reader();
    expect(await r.poll()).toEqual([]);
    await mkdir(dir);
    await put('default.log', 'a\n');
    expect(texts(await r.poll())).toEqual(['default:a']);
  });
});

describe('followStreams', () => {
  it('hands over each new batch until aborted', async () => {
    await put('default.log', 'a\n');
    const r = reader();
    const stop = new AbortController();
    const seen: string[] = [];
    let batches = 0;
    const done = followStreams(
      r,
      async (lines) => {
        batches++;
        seen.push(...lines.map((l) => l.text));
        if (seen.length === 1) await add('default.log', 'b\n');
        if (seen.length === 2) {
          await rotate('default');
          await add('default.log', 'c\n');
        }
        if (seen.length === 3) stop.abort();
      },
      { signal: stop.signal, intervalMs: 10 },
    );
    await done;
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(batches).toBe(3);
  });

  it('returns at once when already aborted', async () => {
    const stop = new AbortController();
    stop.abort();
    let called = false;
    await followStreams(reader(), () => void (called = true), { signal: stop.signal });
    expect(called).toBe(false);
  });
});
