/**
 * FileFollower (src/streams/fileFollow.ts) poll by poll, in process: what a renamed file's last
 * line without a newline does, which the process tests cannot stage without timing.
 */
import { appendFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SkippedLine } from '../../src/streams/events.js';
import { FileFollower } from '../../src/streams/fileFollow.js';
import { openLog } from '../../src/streams/logFiles.js';
import type { ReadEvent } from '../../src/streams/merge.js';
import { testDir } from '../harness/lab.js';
import { event } from './logs.js';

const line = (id: string, ms: number) => JSON.stringify(event(id, ms));

/** A follower of `dir`/audit.log that has read it to its end, as the stored part leaves it. */
async function following(dir: string, refused: SkippedLine[]) {
  const file = { path: join(dir, 'audit.log'), shown: 'audit.log' };
  const reader = await openLog(file, undefined, (s) => refused.push(s));
  while ((await reader.next()) !== null);
  return new FileFollower(file, reader, (s) => refused.push(s), 2);
}

async function poll(f: FileFollower): Promise<string[]> {
  const out: ReadEvent[] = [];
  await f.poll(out, 1000);
  return out.map((e) => `${e.event.auditID as string}@${e.lineNo}`);
}

describe('FileFollower', () => {
  it('a renamed file ending without a newline: its last line waits `grace` polls (the new file too), then is taken whole', async () => {
    const dir = await testDir();
    const refused: SkippedLine[] = [];
    await writeFile(join(dir, 'audit.log'), `${line('e0', 0)}\n`);
    const f = await following(dir, refused);
    await appendFile(join(dir, 'audit.log'), line('e1', 1000));
    expect(await poll(f)).toEqual([]);
    await rename(join(dir, 'audit.log'), join(dir, 'audit-old.log'));
    await writeFile(join(dir, 'audit.log'), `${line('e2', 2000)}\n`);
    expect(await poll(f)).toEqual([]);
    expect(await poll(f)).toEqual([]);
    expect(await poll(f)).toEqual(['e1@2', 'e2@1']);
    expect(await poll(f)).toEqual([]);
    expect(refused).toEqual([]);
    await f.close();
  });

  it('a late writer that ends the line within the grace: the line as written, at once', async () => {
    const dir = await testDir();
    const refused: SkippedLine[] = [];
    await writeFile(join(dir, 'audit.log'), `${line('e0', 0)}\n`);
    const f = await following(dir, refused);
    const late = line('e1', 1000);
    await appendFile(join(dir, 'audit.log'), late.slice(0, 30));
    await rename(join(dir, 'audit.log'), join(dir, 'audit-old.log'));
    expect(await poll(f)).toEqual([]);
    await appendFile(join(dir, 'audit-old.log'), `${late.slice(30)}\n`);
    expect(await poll(f)).toEqual(['e1@2']);
    expect(refused).toEqual([]);
    await f.close();
  });

  it('a file removed and not replaced: read to its end, then the name is waited for', async () => {
    const dir = await testDir();
    const refused: SkippedLine[] = [];
    await writeFile(join(dir, 'audit.log'), `${line('e0', 0)}\n`);
    const f = await following(dir, refused);
    await appendFile(join(dir, 'audit.log'), `${line('e1', 1000)}\n`);
    await rename(join(dir, 'audit.log'), join(dir, 'gone.log'));
    expect(await poll(f)).toEqual(['e1@2']);
    expect(await poll(f)).toEqual([]);
    await writeFile(join(dir, 'audit.log'), `${line('e2', 2000)}\n`);
    expect(await poll(f)).toEqual(['e2@1']);
    await f.close();
  });
});
