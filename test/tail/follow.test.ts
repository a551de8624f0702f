/**
 * A lab's stream files read back while the receiver writes them: what is stored (readLab, the
 * one reading), then a sink's stream followed through rotation poll by poll (FileFollower given
 * the rotated files, as labStreams.ts follows a sink), and a following read that goes on as
 * files change, driven by what it hands over.
 */
import { appendFile, mkdir, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Skipped, SkippedLine, SourceQuery } from '../../src/streams/events.js';
import { FileFollower } from '../../src/streams/fileFollow.js';
import { readLab } from '../../src/streams/labStreams.js';
import type { ReadEvent } from '../../src/streams/merge.js';
import { listStreamFiles, parseStreamFileName } from '../../src/streams/names.js';
import { listStreamSinks } from '../../src/streams/source.js';
import { event } from '../streams/logs.js';
import { removeHome, tempHome } from '../harness/lab.js';

let dir: string;
let home: string;
const followers: FileFollower[] = [];

beforeEach(async () => {
  home = await tempHome();
  dir = join(home, 'streams');
  await mkdir(dir);
});

afterEach(async () => {
  for (const f of followers.splice(0)) await f.close();
  await removeHome(home);
});

/** An event's line; events are apart in the order of their names (by letter, then number: `a2` before `b1`). */
const ev = (id: string) => JSON.stringify(event(id, (id.charCodeAt(0) - 97) * 100_000 + Number(id.slice(1)) * 1000));
const lines = (...ids: string[]) => ids.map((id) => `${ev(id)}\n`).join('');
const put = (name: string, text: string) => writeFile(join(dir, name), text);
const add = (name: string, text: string) => appendFile(join(dir, name), text);
const idsOf = (events: readonly ReadEvent[]) => events.map((e) => `${e.sink}:${e.event.auditID as string}`);

/** What the receiver does (receiver/store/rotation.ts): shift .N up, rename <sink>.log to .1, start a new one. */
async function rotate(sink: string, maxBackups = 5): Promise<void> {
  const base = join(dir, `${sink}.log`);
  await rm(`${base}.${maxBackups}`, { force: true });
  for (let i = maxBackups - 1; i >= 1; i--) await rename(`${base}.${i}`, `${base}.${i + 1}`).catch(() => {});
  await rename(base, `${base}.1`);
  await writeFile(base, '');
}

const query = (o: Partial<SourceQuery> = {}): SourceQuery => {
  return { tail: -1, matches: () => true, follow: false, signal: new AbortController().signal, pollMs: 10, ...o };
};
const lab = (sinks: string[] = []) => ({ streamsDir: dir, sinks, known: [], hidden: [] });

/** Everything stored, read once. */
async function stored(sinks: string[] = []): Promise<{ events: ReadEvent[]; skipped: Skipped }> {
  const events: ReadEvent[] = [];
  const skipped = await readLab(lab(sinks), query(), (batch) => void events.push(...batch));
  return { events, skipped };
}

const file = (name: string, sink = 'default') => ({ path: join(dir, name), shown: join(dir, name), own: true, sink });

/** A follower of <sink>.log that has read nothing yet, as labStreams.ts makes one for a sink that appears. */
function follower(sink = 'default', grace = 10): FileFollower {
  const f = new FileFollower(file(`${sink}.log`, sink), null, () => {}, grace);
  followers.push(f);
  return f;
}

/** One poll, given the rotated files as listed now. */
async function poll(f: FileFollower, sink = 'default'): Promise<string[]> {
  const rotated = ((await listStreamFiles(dir)).get(sink)?.rotated ?? []).map((name) => file(name, sink));
  const out: ReadEvent[] = [];
  await f.poll(out, 1000, rotated);
  return out.map((e) => e.event.auditID as string);
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

  it('lists rotated files oldest first, by number (10 before 9)', async () => {
    for (const n of [1, 2, 9, 10]) await put(`default.log.${n}`, '');
    await put('default.log', '');
    const rotated = ['default.log.10', 'default.log.9', 'default.log.2', 'default.log.1'];
    expect(await listStreamFiles(dir)).toEqual(new Map([['default', { rotated, live: true }]]));
  });
});

describe('what a lab stored', () => {
  it('rotated files oldest first, then <sink>.log, each line where it is', async () => {
    await put('default.log.2', lines('a1', 'a2'));
    await put('default.log.1', lines('a3'));
    await put('default.log', lines('a4', 'a5'));
    const { events, skipped } = await stored();
    expect(idsOf(events)).toEqual(['default:a1', 'default:a2', 'default:a3', 'default:a4', 'default:a5']);
    expect(events.map((e) => `${e.file.slice(dir.length + 1)}:${e.lineNo}`)).toEqual([
      'default.log.2:1',
      'default.log.2:2',
      'default.log.1:1',
      'default.log:1',
      'default.log:2',
    ]);
    expect(skipped.count).toBe(0);
  });

  it("the sinks merged by time, each sink's own order kept", async () => {
    await put('default.log', lines('a1', 'c1'));
    await put('secrets.log.1', lines('b1'));
    await put('secrets.log', lines('d1'));
    expect(idsOf((await stored()).events)).toEqual(['default:a1', 'secrets:b1', 'default:c1', 'secrets:d1']);
  });

  it('only the sinks asked for', async () => {
    await put('default.log', lines('a1'));
    await put('secrets.log', lines('b2'));
    await put('secrets.log.1', lines('b1'));
    expect(idsOf((await stored(['secrets'])).events)).toEqual(['secrets:b1', 'secrets:b2']);
  });

  // The receiver may be writing <sink>.log's last line; a rotated file is whole.
  it("a rotated file's last line counts without its newline; <sink>.log's is not read yet", async () => {
    await put('default.log.1', `${lines('a1')}${ev('a2')}`);
    await put('default.log', `${lines('a3')}${ev('a4').slice(0, 40)}`);
    const { events, skipped } = await stored();
    expect(idsOf(events)).toEqual(['default:a1', 'default:a2', 'default:a3']);
    expect(skipped.count).toBe(0);
  });

  it('keeps what the receiver stored byte for byte: UTF-8, and lines longer than a read', async () => {
    const utf8 = JSON.stringify({ ...event('u1', 0), userAgent: 'é ü 日本' });
    const long = JSON.stringify({ ...event('l1', 1000), requestObject: { data: 'x'.repeat(9 * 1024 * 1024) } });
    await put('default.log', `${utf8}\n${long}\n`);
    expect((await stored()).events.map((e) => e.text)).toEqual([utf8, long]);
  });
});

describe('a sink followed through rotation, poll by poll', () => {
  it('first reads everything stored, rotated files oldest first, then only what is new', async () => {
    await put('default.log.2', lines('a1', 'a2'));
    await put('default.log.1', lines('a3'));
    await put('default.log', lines('a4'));
    const f = follower();
    expect(await poll(f)).toEqual(['a1', 'a2', 'a3', 'a4']);
    expect(await poll(f)).toEqual([]);
    await add('default.log', lines('a5'));
    expect(await poll(f)).toEqual(['a5']);
  });

  it('never hands out a line before its newline', async () => {
    await put('default.log', `${lines('a1')}${ev('a2').slice(0, 20)}`);
    const f = follower();
    expect(await poll(f)).toEqual(['a1']);
    expect(await poll(f)).toEqual([]);
    await add('default.log', ev('a2').slice(20, 40));
    expect(await poll(f)).toEqual([]);
    await add('default.log', `${ev('a2').slice(40)}\n${lines('a3')}`);
    expect(await poll(f)).toEqual(['a2', 'a3']);
  });

  it('finishes a rotated file before the new one, and reads each line once', async () => {
    await put('default.log', lines('a1'));
    const f = follower();
    expect(await poll(f)).toEqual(['a1']);
    await add('default.log', lines('a2'));
    await rotate('default');
    await add('default.log', lines('a3'));
    expect(await poll(f)).toEqual(['a2', 'a3']);
    await add('default.log', lines('a4'));
    expect(await poll(f)).toEqual(['a4']);
    expect(await poll(f)).toEqual([]);
  });

  it('reads a file that was <sink>.log only between two polls (two rotations at once)', async () => {
    await put('default.log', lines('a1'));
    const f = follower();
    await poll(f);
    await add('default.log', lines('a2'));
    await rotate('default');
    await add('default.log', lines('a3', 'a4'));
    await rotate('default');
    await add('default.log', lines('a5'));
    expect(await poll(f)).toEqual(['a2', 'a3', 'a4', 'a5']);
    expect(await poll(f)).toEqual([]);
  });

  it('catches the moment between the rename and the new file', async () => {
    await put('default.log', lines('a1'));
    const f = follower();
    await poll(f);
    await add('default.log', lines('a2'));
    await rename(join(dir, 'default.log'), join(dir, 'default.log.1'));
    expect(await poll(f)).toEqual(['a2']);
    await put('default.log', lines('a3'));
    expect(await poll(f)).toEqual(['a3']);
  });

  it('keeps reading when the oldest rotated file is deleted (maxBackups reached)', async () => {
    await put('default.log', lines('a1'));
    const f = follower();
    await poll(f);
    for (const [i, id] of ['a2', 'a3', 'a4'].entries()) {
      await rotate('default', 1); // keeps only default.log.1
      await add('default.log', lines(id));
      expect(await poll(f), `round ${i}`).toEqual([id]);
    }
  });

  it('with no backups kept, the file is removed and a new one started', async () => {
    await put('default.log', lines('a1'));
    const f = follower();
    await poll(f);
    await add('default.log', lines('a2'));
    await rotate('default', 0);
    await add('default.log', lines('a3'));
    expect(await poll(f)).toEqual(['a2', 'a3']);
  });

  it('starts over when a file is truncated in place', async () => {
    await put('default.log', lines('a1', 'a2'));
    const f = follower();
    await poll(f);
    await truncate(join(dir, 'default.log'), 0);
    await add('default.log', lines('a3'));
    expect(await poll(f)).toEqual(['a3']);
  });

  it('waits for a rotated file that ends without a newline, then takes its last line', async () => {
    await put('default.log.1', `${lines('a1')}${ev('a2')}`);
    await put('default.log', lines('a3'));
    const f = follower('default', 2);
    expect(await poll(f)).toEqual(['a1']);
    expect(await poll(f)).toEqual([]);
    expect(await poll(f)).toEqual(['a2', 'a3']);
  });

  it("a deleted sink's stream: only what is written from now on", async () => {
    await put('default.log.1', lines('a1'));
    await put('default.log', `${lines('a2')}${ev('a3').slice(0, 30)}`);
    const f = follower();
    await f.skipToEnd([file('default.log.1')]);
    expect(await poll(f)).toEqual([]);
    await add('default.log', `${ev('a3').slice(30)}\n${lines('a4')}`);
    expect(await poll(f)).toEqual(['a3', 'a4']);
  });
});

/**
 * readLab following: `steps` run in turn, each once what was handed over so far is `after`; the
 * read stops once it is `end`, which is returned with what was refused.
 */
async function follow(
  sinks: string[],
  steps: { after: string[]; then: () => Promise<void> }[],
  end: string[],
): Promise<{ seen: string[]; refused: SkippedLine[] }> {
  const stop = new AbortController();
  const seen: string[] = [];
  const skipped = await readLab(lab(sinks), query({ follow: true, signal: stop.signal }), async (batch) => {
    seen.push(...idsOf(batch));
    while (steps.length > 0 && seen.join() === steps[0]!.after.join()) await steps.shift()!.then();
    if (seen.length >= end.length) stop.abort();
  });
  expect(seen).toEqual(end);
  return { seen, refused: skipped.lines };
}

describe('following a lab', () => {
  it('hands over what is appended, through rotation, and sinks that appear, from their first line', async () => {
    await put('default.log', lines('a1'));
    await follow(
      [],
      [
        { after: ['default:a1'], then: () => add('default.log', lines('a2')) },
        {
          after: ['default:a1', 'default:a2'],
          then: async () => {
            await rotate('default');
            await add('default.log', lines('a3'));
          },
        },
        { after: ['default:a1', 'default:a2', 'default:a3'], then: () => put('late.log', lines('b1')) },
      ],
      ['default:a1', 'default:a2', 'default:a3', 'late:b1'],
    );
  });

  it('a missing streams directory reads as empty, and is picked up when it appears', async () => {
    await rm(dir, { recursive: true });
    let made = false;
    const stop = new AbortController();
    const seen: string[] = [];
    await readLab(lab(), query({ follow: true, signal: stop.signal }), async (batch, storedDone) => {
      seen.push(...idsOf(batch));
      if (storedDone && !made) {
        made = true;
        await mkdir(dir);
        await put('default.log', lines('a1'));
      }
      if (seen.length > 0) stop.abort();
    });
    expect(seen).toEqual(['default:a1']);
  });

  it('a line that is not an audit event is refused where it is, and the reading goes on', async () => {
    await put('default.log', lines('a1'));
    const steps = [{ after: ['default:a1'], then: () => add('default.log', `not json\n${lines('a2')}`) }];
    const { refused } = await follow([], steps, ['default:a1', 'default:a2']);
    const reason = expect.stringMatching(/^malformed JSON: /) as string;
    expect(refused).toEqual([{ file: join(dir, 'default.log'), line: 2, reason }]);
  });

  it('returns at once when already aborted', async () => {
    await put('default.log', lines('a1'));
    const stop = new AbortController();
    stop.abort();
    const batches: string[][] = [];
    await readLab(lab(), query({ follow: true, signal: stop.signal }), (batch) => void batches.push(idsOf(batch)));
    expect(batches.length).toBeLessThanOrEqual(1);
  });
});
