import { mkdtemp, readdir, rm, stat, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dedupeKey, jsonLine, type Line, StreamStore, streamFile } from '../../src/receiver/streams.js';
import { readLines } from './helpers.js';

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
  return jsonLine(dedupeKey(id, stage), JSON.stringify({ kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Metadata', auditID: id, stage, pad: 'x'.repeat(pad) }));
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
    expect(await s.write('default', [line('a'), line('b'), line('a', 'RequestReceived')])).toEqual({ written: 3, duplicates: 0 });
    expect(await s.write('default', [line('b'), line('c'), line('c')])).toEqual({ written: 1, duplicates: 2 });
    const ids = (await readLines(streamFile(dir, 'default'))).map((l) => (JSON.parse(l) as { auditID: string; stage: string }).auditID);
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
    expect(await s2.write('default', [line('k4'), line('k5'), line('k3'), line('new')])).toEqual({ written: 1, duplicates: 3 });
  });

  it('forgets the oldest keys beyond its cap', async () => {
    const s = await open({ dedupeKeys: 3 });
    await s.write('default', [line('a'), line('b'), line('c'), line('d')]);
    expect(await s.write('default', [line('a'), line('d')])).toEqual({ written: 1, duplicates: 1 });
  });
});
