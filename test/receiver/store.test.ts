import {
  appendFile,
  type FileHandle,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dns1123SubdomainErrors } from '../../src/audit/model.js';
import { UserError } from '../../src/errors.js';
import { labPaths } from '../../src/lab/paths.js';
import { readLab } from '../../src/streams/labStreams.js';
import type { ReadEvent } from '../../src/streams/merge.js';
import { listStreamSinks } from '../../src/streams/source.js';
import { countSinkEvents } from '../../src/streams/stats.js';
import { sinkFileStem, sinkPolicyFile, streamFile } from '../../src/streams/names.js';
import { dedupeKey, jsonLine, type Line } from '../../src/receiver/store/lines.js';
import { StreamLinkError } from '../../src/receiver/store/links.js';
import { RecentKeys, SharedKeys } from '../../src/receiver/store/sharedKeys.js';
import { StreamStore } from '../../src/receiver/store/store.js';
import { readLines } from '../harness/events.js';

let dir: string;
let store: StreamStore | null = null;

beforeEach(async () => {
  dir = join(await mkdtemp(join(tmpdir(), 'audit-lab-streams-')), 'streams');
});
afterEach(async () => {
  await store?.close();
  store = null;
  await rm(join(dir, '..'), { recursive: true, force: true });
});

function line(id: string, stage = 'ResponseComplete', pad = 0): Line {
  return jsonLine(
    dedupeKey(id, stage),
    JSON.stringify({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'Metadata',
      auditID: id,
      stage,
      pad: 'x'.repeat(pad),
    }),
  );
}

async function open(opts = {}): Promise<StreamStore> {
  store = new StreamStore(dir, opts);
  await store.init();
  return store;
}

describe('StreamStore', () => {
  it('makes the directory 0700 and the files 0600', async () => {
    const s = await open();
    await s.write('default', [line('a')]);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(streamFile(dir, 'default'))).mode & 0o777).toBe(0o600);
  });

  it('writes one line per event, in order, and drops events it already stored (same auditID and stage)', async () => {
    const s = await open();
    expect(await s.write('default', [line('a'), line('b'), line('a', 'RequestReceived')])).toEqual({
      written: 3,
      duplicates: 0,
    });
    expect(await s.write('default', [line('b'), line('c'), line('c')])).toEqual({ written: 1, duplicates: 2 });
    const ids = (await readLines(streamFile(dir, 'default'))).map(
      (l) => (JSON.parse(l) as { auditID: string; stage: string }).auditID,
    );
    expect(ids).toEqual(['a', 'b', 'a', 'c']);
  });

  it('keeps sinks apart: the same event goes once to each', async () => {
    const s = await open();
    await s.write('one', [line('a')]);
    await s.write('two', [line('a')]);
    expect(await readLines(streamFile(dir, 'one'))).toHaveLength(1);
    expect(await readLines(streamFile(dir, 'two'))).toHaveLength(1);
  });

  it('writes concurrent batches whole and once', async () => {
    const s = await open();
    const batches = Array.from({ length: 50 }, (_, b) => Array.from({ length: 20 }, (_, i) => line(`e-${b}-${i}`)));
    // Each batch twice, concurrently: a retry racing the original write.
    await Promise.all([...batches, ...batches].map((b) => s.write('default', b)));
    const lines = await readLines(streamFile(dir, 'default'));
    expect(lines).toHaveLength(1000);
    expect(new Set(lines).size).toBe(1000);
  });

  it('repairs a torn last line at start and remembers what is stored (seeded from the file)', async () => {
    await (await open()).write('default', [line('a'), line('b')]);
    await store!.close();
    await appendFile(streamFile(dir, 'default'), '{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"torn"');
    const s = await open();
    await s.stream('default');
    expect(await readLines(streamFile(dir, 'default'))).toHaveLength(2);
    expect(await s.write('default', [line('a'), line('b'), line('torn')])).toEqual({ written: 1, duplicates: 2 });
    expect(await readLines(streamFile(dir, 'default'))).toHaveLength(3);
  });

  it('cuts a file with no newline at all to empty', async () => {
    await open();
    await store!.close();
    await writeFile(streamFile(dir, 'x'), '{"kind":"Ev');
    const s = await open();
    await s.stream('x');
    expect((await stat(streamFile(dir, 'x'))).size).toBe(0);
  });

  it('rotates by size to .log.1 ... and removes the oldest beyond the cap, never splitting a line', async () => {
    const s = await open({ maxBytes: 1000, maxBackups: 2 });
    for (let i = 0; i < 30; i++) await s.write('default', [line(`r${i}`, 'ResponseComplete', 100)]);
    const files = (await readdir(dir)).sort();
    expect(files).toEqual(['default.log', 'default.log.1', 'default.log.2']);
    const all: string[] = [];
    for (const f of ['default.log.2', 'default.log.1', 'default.log']) {
      const lines = await readLines(join(dir, f));
      expect((await stat(join(dir, f))).size).toBeLessThanOrEqual(1000);
      all.push(...lines.map((l) => (JSON.parse(l) as { auditID: string }).auditID));
    }
    // Newest last and contiguous: rotation kept order and lost no line from the files kept.
    const n = all.length;
    expect(all).toEqual(Array.from({ length: n }, (_, i) => `r${30 - n + i}`));
    expect(n).toBeGreaterThanOrEqual(9);
    expect(n).toBeLessThan(30);
  });

  it('seeds dedupe from the rotated file too when the current one is short', async () => {
    const s1 = await open({ maxBytes: 500, maxBackups: 3 });
    for (let i = 0; i < 6; i++) await s1.write('default', [line(`k${i}`, 'ResponseComplete', 100)]);
    await s1.close();
    const s2 = await open({ maxBytes: 500, maxBackups: 3 });
    expect(await s2.write('default', [line('k4'), line('k5'), line('k3'), line('new')])).toEqual({
      written: 1,
      duplicates: 3,
    });
  });

  it('forgets the oldest keys beyond its cap', async () => {
    const s = await open({ dedupeKeys: 3 });
    await s.write('default', [line('a'), line('b'), line('c'), line('d')]);
    expect(await s.write('default', [line('a'), line('d')])).toEqual({ written: 1, duplicates: 1 });
  });
});

/** A 253-character sink name, the longest `sink create` accepts (a DNS-1123 subdomain). */
export const LONG_SINK =
  `${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}.long-${'e'.repeat(4)}`.slice(0, 253);

describe('stream file names', () => {
  it('keep every sink name within 255 bytes with each rotation suffix, and long names apart', () => {
    expect(LONG_SINK).toHaveLength(253);
    expect(dns1123SubdomainErrors(LONG_SINK)).toEqual([]);
    const other = `${LONG_SINK.slice(0, 252)}f`;
    expect(sinkFileStem('default')).toBe('default');
    const stems = [LONG_SINK, other].map(sinkFileStem);
    expect(stems[0]).not.toBe(stems[1]);
    for (const stem of stems) {
      // The readable start of the name stays.
      expect(stem.startsWith('a'.repeat(60))).toBe(true);
      for (const name of [
        `${stem}.log`,
        `${stem}.log.${Number.MAX_SAFE_INTEGER}`,
        `.${stem}.yaml.4194304.0123abcd.tmp`,
      ]) {
        expect(Buffer.byteLength(name)).toBeLessThanOrEqual(255);
      }
    }
    const paths = labPaths('/h', 'audit-lab');
    expect(Buffer.byteLength(basename(sinkPolicyFile(paths, LONG_SINK)))).toBeLessThanOrEqual(255);
  });

  it('a long-named sink is stored, rotated, listed and read back under its full name', async () => {
    const s = await open({ maxBytes: 600, maxBackups: 50 });
    for (let i = 0; i < 12; i++) await s.write(LONG_SINK, [line(`l${i}`, 'ResponseComplete', 100)]);
    await s.write('default', [line('d0')]);
    const files = await readdir(dir);
    expect(files.filter((f) => f.includes('.log.')).length).toBeGreaterThan(2);
    for (const f of files) expect(Buffer.byteLength(f)).toBeLessThanOrEqual(255);
    expect(await listStreamSinks(dir)).toEqual([LONG_SINK, 'default'].sort());
    expect((await countSinkEvents(dir, LONG_SINK)).events).toBe(12);
    const read: ReadEvent[] = [];
    const q = { tail: -1, matches: () => true, follow: false, signal: new AbortController().signal, pollMs: 0 };
    await readLab({ streamsDir: dir, sinks: [LONG_SINK], known: [], hidden: [] }, q, (b) => void read.push(...b));
    expect(read.map((l) => [l.sink, l.event.auditID])).toEqual(
      Array.from({ length: 12 }, (_, i) => [LONG_SINK, `l${i}`]),
    );
  });

  it("a long name is still found from the lab's sinks when its name file is gone", async () => {
    const s = await open();
    await s.write(LONG_SINK, [line('a')]);
    for (const f of await readdir(dir)) if (f.endsWith('.sink')) await rm(join(dir, f));
    expect(await listStreamSinks(dir, [LONG_SINK])).toEqual([LONG_SINK]);
    expect(await listStreamSinks(dir)).toEqual([sinkFileStem(LONG_SINK)]);
  });
});

describe('stream files that are symbolic links', () => {
  it('are never written through: the batch fails, naming the link, and the target is untouched', async () => {
    const s = await open();
    await s.init();
    const target = join(dir, '..', 'elsewhere.txt');
    await writeFile(target, 'precious\n', { mode: 0o644 });
    await symlink(target, streamFile(dir, 'default'));
    await expect(s.write('default', [line('a')])).rejects.toThrow(
      `stream file ${streamFile(dir, 'default')} is a symbolic link`,
    );
    await expect(s.write('default', [line('a')])).rejects.toBeInstanceOf(StreamLinkError);
    expect(await readFile(target, 'utf8')).toBe('precious\n');
    expect((await stat(target)).mode & 0o777).toBe(0o644);
    // Other sinks go on.
    expect(await s.write('other', [line('a')])).toEqual({ written: 1, duplicates: 0 });
  });

  it('nor read through when rotated, and a store does not start over one, naming it', async () => {
    const s = await open();
    await s.write('default', [line('a')]);
    await s.close();
    const target = join(dir, '..', 'elsewhere.txt');
    await writeFile(target, 'precious\n');
    await symlink(target, `${streamFile(dir, 'default')}.1`);
    const again = new StreamStore(dir);
    await expect(again.init()).rejects.toThrow(UserError);
    await expect(again.init()).rejects.toThrow(`${streamFile(dir, 'default')}.1`);
    await expect(again.write('default', [line('b')])).rejects.toBeInstanceOf(StreamLinkError);
    await again.close();
    expect(await readFile(target, 'utf8')).toBe('precious\n');
  });
});

describe('dedupe window', () => {
  /** A clock the test moves. */
  function clock() {
    let t = Date.now();
    return { now: () => t, advance: (ms: number) => (t += ms) };
  }
  const others = (from: number, n: number) => Array.from({ length: n }, (_, i) => line(`other-${from + i}`));

  it('drops a batch re-sent after 60,000 other events and after a restart, within the window', async () => {
    const c = clock();
    const batch = Array.from({ length: 400 }, (_, i) => line(`retry-${i}`));
    const s = await open({ now: c.now });
    expect(await s.write('default', batch)).toEqual({ written: 400, duplicates: 0 });
    for (let i = 0; i < 65_000; i += 5_000) {
      await s.write('default', others(i, 5_000));
      c.advance(15_000);
    }
    expect(await s.write('default', batch)).toEqual({ written: 0, duplicates: 400 });
    await s.close();

    c.advance(60_000); // 4.25 minutes since the batch was first stored
    const again = await open({ now: c.now });
    expect(await again.write('default', batch)).toEqual({ written: 0, duplicates: 400 });
    expect(await readLines(streamFile(dir, 'default'))).toHaveLength(65_400);
  });

  it('seeds the window from rotated files too, back to the window only', async () => {
    const c = clock();
    const opts = { now: c.now, maxBytes: 50_000, maxBackups: 100 };
    const s = await open(opts);
    await s.write('default', [line('oldest')]);
    for (let i = 0; i < 3_000; i += 500) await s.write('default', others(i, 500));
    await s.write('default', [line('first')]);
    for (let i = 3_000; i < 6_000; i += 500) await s.write('default', others(i, 500));
    await s.close();
    const rotated = (await readdir(dir))
      .filter((f) => f.includes('.log.'))
      .sort((a, b) => Number(b.split('.').pop()) - Number(a.split('.').pop()));
    expect(rotated.length).toBeGreaterThan(6);
    // The oldest file was last written 10 minutes ago: out of the window, so not read.
    const oldest = join(dir, rotated[0]!);
    expect(await readFile(oldest, 'utf8')).toContain('"oldest"');
    const tenMinutesAgo = new Date(c.now() - 10 * 60_000);
    await utimes(oldest, tenMinutesAgo, tenMinutesAgo);
    const again = await open(opts);
    expect(await again.write('default', [line('first'), line('other-1'), line('other-5999'), line('new')])).toEqual({
      written: 1,
      duplicates: 3,
    });
    expect(await again.write('default', [line('oldest')])).toEqual({ written: 1, duplicates: 0 });
  });

  it('forgets keys older than the window, and keeps at most its cap', async () => {
    const c = clock();
    const s = await open({ now: c.now, dedupeWindowMs: 6 * 60_000 });
    await s.write('default', [line('old')]);
    c.advance(5 * 60_000);
    expect(await s.write('default', [line('old')])).toEqual({ written: 0, duplicates: 1 });
    c.advance(2 * 60_000);
    await s.write('default', others(0, 10_000)); // fills more than one chunk, so the old one can go
    expect(await s.write('default', [line('old')])).toEqual({ written: 1, duplicates: 0 });
    const capped = new RecentKeys(1000, Infinity);
    for (let i = 0; i < 5000; i++) capped.add(dedupeKey(`k${i}`, 'Panic'), i);
    expect(capped.size).toBe(1000);
    expect(capped.has(dedupeKey('k3999', 'Panic'))).toBe(false);
    expect(capped.has(dedupeKey('k4000', 'Panic'))).toBe(true);
  });
});

describe('RecentKeys over time', () => {
  it('never forgets a key younger than the window, and lets old ones go', () => {
    const window = 1000;
    const r = new RecentKeys(1_000_000, window);
    const storedAt = new Map<number, number>();
    let now = 0;
    for (let step = 0; step < 40_000; step++) {
      now += step % 3; // several keys per tick, and ticks with none
      r.expire(now);
      const n = (step * 7919) % 30_000; // keys come back, as retries do
      const k = dedupeKey(`e-${n}`, 'Panic');
      if (!r.has(k)) {
        r.add(k, now);
        storedAt.set(n, now);
      }
      if (step % 1000 === 0) {
        for (const [m, t] of storedAt) if (now - t < window) expect(r.has(dedupeKey(`e-${m}`, 'Panic'))).toBe(true);
      }
    }
    r.expire(now + 10 * window);
    expect(r.size).toBe(0);
  });
});

describe('durability', () => {
  /** A sync the test holds until it lets go, counting the calls. */
  function heldSync() {
    const waiting: (() => void)[] = [];
    let calls = 0;
    return {
      sync: async () => {
        calls++;
        await new Promise<void>((r) => waiting.push(r));
      },
      calls: () => calls,
      waiting: () => waiting.length,
      release: () => {
        for (const r of waiting.splice(0)) r();
      },
    };
  }
  const until = async (check: () => boolean) => {
    while (!check()) await new Promise((r) => setImmediate(r));
  };

  it('acknowledges a write only once it is synced, and concurrent writes share one sync', async () => {
    const h = heldSync();
    const s = await open({ sync: h.sync });
    let done = false;
    const first = s.write('default', [line('a')]).then((r) => ((done = true), r));
    await until(() => h.waiting() === 1);
    // Written, not synced: not acknowledged.
    expect(await readLines(streamFile(dir, 'default'))).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 0));
    expect(done).toBe(false);
    // Ten batches arrive while that sync is in flight.
    const rest = Array.from({ length: 10 }, (_, i) => s.write('default', [line(`b${i}`), line(`c${i}`)]));
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(h.calls()).toBe(1);
    h.release();
    expect(await first).toEqual({ written: 1, duplicates: 0 });
    await until(() => h.waiting() === 1);
    expect(h.calls()).toBe(2); // the ten share the second sync
    h.release();
    await Promise.all(rest);
    expect(h.calls()).toBe(2);
    expect(await readLines(streamFile(dir, 'default'))).toHaveLength(21);
  });

  it('fails a write whose sync fails, takes its lines back, and stores the retry once', async () => {
    let fail = true;
    const s = await open({
      sync: async (fh: FileHandle) => {
        if (fail) throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
        await fh.datasync();
      },
    });
    await expect(s.write('default', [line('a'), line('b')])).rejects.toThrow('EIO');
    expect(await readLines(streamFile(dir, 'default'))).toHaveLength(0);
    fail = false;
    expect(await s.write('default', [line('a'), line('b')])).toEqual({ written: 2, duplicates: 0 });
    expect(await readLines(streamFile(dir, 'default'))).toHaveLength(2);
  });

  it('recovers from a rotation that failed after closing the old file: the retry is stored', async () => {
    let dirSyncs = 0;
    const s = await open({
      maxBytes: 300,
      maxBackups: 2,
      syncDir: async () => {
        if (++dirSyncs === 2) throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
      },
    });
    await s.write('default', [line('a', 'ResponseComplete', 150)]);
    await expect(s.write('default', [line('b', 'ResponseComplete', 150)])).rejects.toThrow('EIO');
    expect(await s.write('default', [line('b', 'ResponseComplete', 150)])).toEqual({ written: 1, duplicates: 0 });
    const all = [
      ...(await readLines(`${streamFile(dir, 'default')}.1`)),
      ...(await readLines(streamFile(dir, 'default'))),
    ];
    expect(all.map((l) => (JSON.parse(l) as { auditID: string }).auditID)).toEqual(['a', 'b']);
  });

  it('syncs the old file before rotating and the directory after', async () => {
    const order: string[] = [];
    const s = await open({
      maxBytes: 300,
      maxBackups: 2,
      sync: async (fh: FileHandle) => {
        order.push(`sync ${(await fh.stat()).size}`);
      },
      syncDir: async () => {
        order.push('dir');
      },
    });
    await s.write('default', [line('a', 'ResponseComplete', 150)]);
    await s.write('default', [line('b', 'ResponseComplete', 150)]);
    const size = (await stat(`${streamFile(dir, 'default')}.1`)).size;
    // open: dir; write a: sync; rotation: sync of the old file, dir (renames, new file); write b: sync.
    expect(order).toEqual(['dir', `sync ${size}`, `sync ${size}`, 'dir', `sync ${size}`]);
  });
});

describe('dedupe keys shared by the sinks of a store', () => {
  const ids = (r: { written: number; duplicates: number }) => [r.written, r.duplicates];

  it('holds each key once for every sink, and a key stored by one sink is not seen by another', async () => {
    const s = await open();
    expect(ids(await s.write('one', [line('a'), line('b')]))).toEqual([2, 0]);
    expect(ids(await s.write('two', [line('b'), line('c')]))).toEqual([2, 0]);
    expect(ids(await s.write('one', [line('b'), line('c')]))).toEqual([1, 1]);
    expect(ids(await s.write('two', [line('a'), line('b'), line('c')]))).toEqual([1, 2]);
    expect(s.keyTables()).toHaveLength(1);
    expect(s.keyTables()[0]!.size).toBe(3);
  });

  it('a sink added later sees none of the keys stored before it', async () => {
    const s = await open();
    await s.write('one', [line('a'), line('b')]);
    expect(ids(await s.write('later', [line('a'), line('b'), line('c')]))).toEqual([3, 0]);
    expect(ids(await s.write('later', [line('a')]))).toEqual([0, 1]);
    expect(ids(await s.write('one', [line('c')]))).toEqual([1, 0]);
  });

  it("a deleted sink's index goes to the next sink without its keys; the sink itself, back, is seeded from its files", async () => {
    const s = await open();
    await s.write('one', [line('a'), line('b')]);
    await s.write('two', [line('a')]);
    const table = s.keyTables()[0]!;
    await s.retain(['two']);
    // 'one' had index 0: free again, and the keys only it held are gone.
    expect(table.size).toBe(1);
    expect(ids(await s.write('new', [line('a'), line('b')]))).toEqual([2, 0]);
    expect(table.acquire()).toBe(2);
    expect(ids(await s.write('two', [line('a'), line('b')]))).toEqual([1, 1]);
    expect(ids(await s.write('one', [line('a'), line('b'), line('c')]))).toEqual([1, 2]);
  });

  it('a sink deleted while two rounds of writes are queued closes after writing them, and made again knows their keys', async () => {
    let hold = true;
    const held: (() => void)[] = [];
    const s = await open({ sync: () => (hold ? new Promise<void>((r) => held.push(r)) : Promise.resolve()) });
    const first = s.write('one', [line('a')]);
    while (held.length === 0) await new Promise((r) => setImmediate(r));
    const second = s.write('one', [line('b')]); // queued behind the first's sync, not written yet
    const dropped = s.retain([]);
    const again = s.stream('one');
    hold = false;
    for (const r of held.splice(0)) r();
    await Promise.all([first, second, dropped, again]);
    expect(ids(await s.write('one', [line('a'), line('b'), line('c')]))).toEqual([1, 2]);
    expect(await readLines(streamFile(dir, 'one'))).toHaveLength(3);
  });

  it('the sinks after the first 16 get a second table, with the same answers', async () => {
    const s = await open();
    const names = Array.from({ length: 20 }, (_, i) => `s${i}`);
    for (const [i, n] of names.entries()) expect(ids(await s.write(n, [line('a'), line(`own-${i}`)]))).toEqual([2, 0]);
    expect(s.keyTables()).toHaveLength(2);
    for (const [i, n] of names.entries())
      expect(ids(await s.write(n, [line('a'), line(`own-${i}`), line(`own-${(i + 1) % 20}`)]))).toEqual([1, 2]);
  });

  it('seeds each sink from its own files at start', async () => {
    const s1 = await open();
    await s1.write('one', [line('a'), line('b')]);
    await s1.write('two', [line('b'), line('c')]);
    await s1.write('three', [line('d')]);
    await s1.close();
    const s2 = await open();
    await Promise.all(['one', 'two', 'three'].map((n) => s2.stream(n)));
    expect(s2.keyTables()[0]!.size).toBe(4);
    expect(ids(await s2.write('one', [line('a'), line('b'), line('c'), line('d')]))).toEqual([2, 2]);
    expect(ids(await s2.write('two', [line('a'), line('b'), line('c'), line('d')]))).toEqual([2, 2]);
    expect(ids(await s2.write('three', [line('a'), line('d')]))).toEqual([1, 1]);
  });

  it("forgets each sink's key when that sink's own storing of it leaves the window", async () => {
    let t = Date.now();
    const s = await open({ now: () => t, dedupeWindowMs: 6 * 60_000 });
    const fill = async (sink: string, from: number) =>
      s.write(
        sink,
        Array.from({ length: 9_000 }, (_, i) => line(`fill-${from + i}`)),
      );
    await s.write('one', [line('k')]);
    await fill('one', 0); // more than a ring chunk: 'two' adds k in a later chunk
    t += 4 * 60_000;
    await s.write('two', [line('k')]);
    await fill('two', 100_000);
    t += 3 * 60_000; // 7 min after 'one' stored k, 3 after 'two' did
    await fill('three', 200_000);
    expect(ids(await s.write('two', [line('k')]))).toEqual([0, 1]);
    expect(ids(await s.write('one', [line('k')]))).toEqual([1, 0]);
    t += 4 * 60_000; // 7 min after 'two' stored k, 4 after 'one' did again
    await fill('three', 300_000);
    expect(ids(await s.write('one', [line('k')]))).toEqual([0, 1]);
    expect(ids(await s.write('two', [line('k')]))).toEqual([1, 0]);
  });
});

describe('SharedKeys', () => {
  it('agrees with a model of per-sink store times through adds, expiry, release and index reuse', () => {
    // A key comes back every 9,001 steps, for another sink: within the window (10,000 steps) and
    // after a ring chunk (8,192 entries) has filled, so sinks' bits of one key live in different chunks.
    const window = 5_000;
    const N = 9_001;
    const t = new SharedKeys(10_000_000, window);
    const model = new Map<number, Map<number, number>>(); // index -> key -> time stored
    const live: number[] = [];
    for (let i = 0; i < 3; i++) {
      live.push(t.acquire()!);
      model.set(live[i]!, new Map());
    }
    const key = (n: number) => dedupeKey(`e-${n}`, 'Panic');
    let now = 0;
    let checks = 0;
    for (let step = 0; step < 120_000; step++) {
      now += step % 2;
      t.expire(now);
      const index = live[step % live.length]!;
      const n = (step * 7919) % N;
      const m = model.get(index)!;
      const at = m.get(n);
      if (at !== undefined && now - at < window) expect(t.has(key(n), index)).toBe(true);
      if (!t.has(key(n), index)) {
        t.add(key(n), index, now);
        m.set(n, now);
      }
      if (step % 20_000 === 19_999) {
        // A sink goes; the next one gets its index and none of its keys.
        const gone = live.shift()!;
        t.release(gone);
        model.delete(gone);
        const next = t.acquire()!;
        expect(next).toBe(gone);
        live.push(next);
        model.set(next, new Map());
        for (let j = 0; j < N; j++) expect(t.has(key(j), next)).toBe(false);
      }
      if (step % 3_000 === 0) {
        for (const [idx, keys] of model) {
          for (const [j, stored] of keys) {
            if (now - stored < window) {
              expect(t.has(key(j), idx)).toBe(true);
              checks++;
            }
          }
        }
      }
    }
    expect(checks).toBeGreaterThan(100_000);
    t.expire(now + 10 * window);
    expect(t.size).toBe(0);
    expect(t.ringEntries).toBe(0);
  });

  it("keeps a bit set in the last chunk for that bit's own time, and a key stored by one sink alone for no longer than the window", () => {
    const t = new SharedKeys(1000, 100);
    const [x, y] = [t.acquire()!, t.acquire()!];
    const k = dedupeKey('k', 'Panic');
    t.add(k, x, 0);
    t.add(k, y, 50); // same chunk: its time is now 50
    t.expire(120);
    expect(t.has(k, y)).toBe(true);
    t.expire(151);
    expect([t.has(k, x), t.has(k, y), t.size]).toEqual([false, false, 0]);
  });

  it('forgets the oldest ring entries beyond its cap, for every sink', () => {
    const t = new SharedKeys(3, Infinity);
    const [x, y] = [t.acquire()!, t.acquire()!];
    const k = (id: string) => dedupeKey(id, 'Panic');
    for (const id of ['a', 'b', 'c']) {
      t.add(k(id), x, 0);
      t.add(k(id), y, 0);
    }
    expect(t.ringEntries).toBe(3);
    t.add(k('d'), y, 0);
    expect([t.has(k('a'), x), t.has(k('a'), y), t.has(k('b'), x), t.has(k('d'), x), t.has(k('d'), y)]).toEqual([
      false,
      false,
      true,
      false,
      true,
    ]);
  });
});
