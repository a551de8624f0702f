import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RefusalLog, RotatingLog } from '../../src/receiver/log.js';

let dir: string | null = null;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = null;
});

describe('RotatingLog', () => {
  it('rotates by size into .1, .2, drops the oldest, and keeps every file 0600', async () => {
    dir = await mkdtemp(join(tmpdir(), 'audit-lab-log-'));
    const path = join(dir, 'receiver.log');
    const log = new RotatingLog(path, { maxBytes: 1000, maxFiles: 3 });
    for (let i = 0; i < 100; i++) log.write(`line ${String(i).padStart(3, '0')} ${'x'.repeat(90)}`);
    log.close();
    expect((await readdir(dir)).sort()).toEqual(['receiver.log', 'receiver.log.1', 'receiver.log.2']);
    for (const f of ['receiver.log', 'receiver.log.1', 'receiver.log.2']) {
      const st = await stat(join(dir, f));
      expect(st.size).toBeLessThanOrEqual(1000);
      expect(st.mode & 0o777).toBe(0o600);
    }
    const current = (await readFile(path, 'utf8')).trimEnd().split('\n');
    expect(current.at(-1)).toMatch(/^line 099 /);
    const older = (await readFile(`${path}.1`, 'utf8')).trimEnd().split('\n');
    // Whole lines, in order across the files.
    expect(Number(older.at(-1)!.slice(5, 8)) + 1).toBe(Number(current[0]!.slice(5, 8)));
  });
});

describe('RefusalLog', () => {
  it('logs the first refusal of a peer per interval and sums up the rest, per peer', () => {
    let now = 1_000_000;
    const out: string[] = [];
    const log = new RefusalLog(
      (l) => out.push(l),
      10_000,
      () => now,
    );
    for (let i = 0; i < 5; i++) log.refused('10.0.0.1', `refused 401 #${i}`);
    log.refused('10.0.0.2', 'refused 404 other');
    expect(out.map((l) => l.slice(25))).toEqual(['refused 401 #0', 'refused 404 other']);
    now += 10_000;
    log.flush();
    expect(out.slice(2).map((l) => l.slice(25))).toEqual([
      '… 4 more refusals from 10.0.0.1 in the last 10 s (last: refused 401 #4)',
    ]);
    log.refused('10.0.0.1', 'refused 401 #5');
    expect(out.at(-1)!.slice(25)).toBe('refused 401 #5');
  });

  it('counts peers past its table size together, so many addresses cannot grow it', () => {
    const out: string[] = [];
    const log = new RefusalLog(
      (l) => out.push(l),
      10_000,
      () => 0,
    );
    for (let i = 0; i < 3000; i++) log.refused(`10.0.${i >> 8}.${i & 255}`, `refused 401 #${i}`);
    expect(out).toHaveLength(1025);
    log.flush(true);
    expect(out.at(-1)).toMatch(/… 1975 more refusals from other peers/);
  });
});
