import { appendFile, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dns1123SubdomainErrors } from '../../src/audit/model.js';
import { UserError } from '../../src/errors.js';
import { labPaths, sinkPolicyFile } from '../../src/lab/paths.js';
import { listStreamSinks, StreamReader } from '../../src/receiver/follow.js';
import { countSinkEvents } from '../../src/receiver/stats.js';
import { sinkFileStem } from '../../src/receiver/streamNames.js';
import { dedupeKey, jsonLine, type Line, StreamLinkError, StreamStore, streamFile } from '../../src/receiver/streams.js';
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

/** A 253-character sink name, the longest `sink create` accepts (a DNS-1123 subdomain). */
export const LONG_SINK = `${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}.long-${'e'.repeat(4)}`.slice(0, 253);

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
      for (const name of [`${stem}.log`, `${stem}.log.${Number.MAX_SAFE_INTEGER}`, `.${stem}.yaml.4194304.0123abcd.tmp`]) {
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
    const r = new StreamReader(dir, { sink: LONG_SINK, graceTicks: 0 });
    const lines = await r.poll();
    await r.close();
    expect(lines.map((l) => [l.sink, (JSON.parse(l.text) as { auditID: string }).auditID])).toEqual(Array.from({ length: 12 }, (_, i) => [LONG_SINK, `l${i}`]));
  });

  it('a long name is still found from the lab\'s sinks when its name file is gone', async () => {
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
    await expect(s.write('default', [line('a')])).rejects.toThrow(`stream file ${streamFile(dir, 'default')} is a symbolic link`);
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
