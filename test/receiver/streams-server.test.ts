/** The receiver over real mutual TLS with its streams' durability and symlink checks in the path. */
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { newSinkState, readState, writeState } from '../../src/lab/state.js';
import { STATIC_PATH } from '../../src/lab/endpoints.js';
import { streamFile } from '../../src/streams/names.js';
import type { RunningReceiver } from '../../src/receiver/start.js';
import type { StreamOptions } from '../../src/receiver/store/options.js';
import { eventList, makeEvent, readLines } from '../harness/events.js';
import { tempLab, type TempLab } from '../harness/lab.js';
import { clientTls, logged, META_AND_FULL, post, startReceiver } from '../harness/receiver.js';

const SINKS = META_AND_FULL;

let t: TempLab | null = null;
let r: RunningReceiver | null = null;
let logs: string[] = [];

afterEach(async () => {
  await r?.close();
  r = null;
  await t?.cleanup();
  t = null;
  logs = [];
});

async function start(streams: Partial<StreamOptions>): Promise<RunningReceiver> {
  r = await startReceiver(t!.lab, logs, { streams });
  return r;
}

const mtls = () => clientTls(t!.lab);

describe('receiver durability', () => {
  it('answers 500 when a sync fails, so the sender retries, and stores the retry once', async () => {
    t = await tempLab(SINKS);
    let fail = false;
    await start({
      sync: async (fh: FileHandle) => {
        if (fail) throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
        await fh.datasync();
      },
    });
    const body = eventList([makeEvent(), makeEvent()]);
    fail = true;
    const refused = await post(`${r!.url}${STATIC_PATH}`, body, mtls());
    expect(refused.status).toBe(500);
    expect(refused.body).toContain('EIO');
    fail = false;
    expect((await post(`${r!.url}${STATIC_PATH}`, body, mtls())).status).toBe(200);
    for (const sink of ['meta', 'full'])
      expect(await readLines(streamFile(t.lab.paths.streamsDir, sink))).toHaveLength(2);
  });
});

describe('receiver and stream symlinks', () => {
  it('does not start over a stream file that is a link, naming it', async () => {
    t = await tempLab(SINKS);
    const target = join(t.home, 'elsewhere');
    await writeFile(target, 'precious\n');
    await mkdir(t.lab.paths.streamsDir, { recursive: true, mode: 0o700 });
    await symlink(target, streamFile(t.lab.paths.streamsDir, 'full'));
    const err = await start({}).catch((e: unknown) => e);
    r = null;
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toContain(streamFile(t.lab.paths.streamsDir, 'full'));
    expect(await readFile(target, 'utf8')).toBe('precious\n');
  });

  it("answers 500 for a batch whose sink's stream is a link (made while running), logging why, and keeps the target as it was", async () => {
    t = await tempLab(SINKS);
    await start({});
    const url = `${r!.url}${STATIC_PATH}`;
    const target = join(t.home, 'elsewhere');
    await writeFile(target, 'precious\n');
    const path = streamFile(t.lab.paths.streamsDir, 'added');
    await symlink(target, path);
    const state = (await readState(t.lab.paths))!;
    state.sinks.push(
      newSinkState({
        name: 'added',
        level: 'Metadata',
        stages: ['ResponseComplete'],
        throttle: { qps: 10, burst: 15 },
      }),
    );
    await writeState(t.lab.paths, state);
    await logged(logs, 'could not open a stream');
    const body = eventList([makeEvent()]);
    const res = await post(url, body, mtls());
    expect(res.status).toBe(500);
    expect(res.body).toContain(`stream file ${path} is a symbolic link`);
    expect(logs.some((l) => l.includes('refused 500') && l.includes(`${path} is a symbolic link`))).toBe(true);
    expect(await readFile(target, 'utf8')).toBe('precious\n');
    // The other sinks stored it (once, however often it is retried).
    expect((await post(url, body, mtls())).status).toBe(500);
    expect(await readLines(streamFile(t.lab.paths.streamsDir, 'meta'))).toHaveLength(1);
  });
});
