/** The background receiver for `up` and `tail` (spawns the built CLI: run `npm run build` first). */
import { type ChildProcess, spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RuntimeFailure } from '../../src/errors.js';
import {
  ensureReceiver,
  readPidFile,
  receiverStatus,
  recordStarted,
  stopReceiver,
  writePidFile,
} from '../../src/daemon/daemon.js';
import { isAlive } from '../../src/lab/process.js';
import { STATIC_PATH } from '../../src/lab/endpoints.js';
import { writeState } from '../../src/lab/state.js';
import { eventList, makeEvent } from '../harness/events.js';
import { removeWithReceiver, tempLab, type TempLab } from '../harness/lab.js';
import { post } from '../harness/receiver.js';

let t: TempLab | null = null;
let blocker: Server | null = null;
let stand: ChildProcess | null = null;

afterEach(async () => {
  if (t) await removeWithReceiver(t);
  t = null;
  await new Promise<void>((r) => (blocker ? blocker.close(() => r()) : r()));
  blocker = null;
  stand?.kill();
  stand = null;
});

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

describe('background receiver', () => {
  it('starts once, reports status, serves, and stops', async () => {
    t = await tempLab(undefined, 0);
    const paths = t.lab.paths;
    expect(await receiverStatus(paths)).toEqual({ running: false });

    const first = await ensureReceiver(paths);
    expect(first.started).toBe(true);
    expect(first.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(isAlive(first.pid)).toBe(true);
    expect(await receiverStatus(paths)).toEqual({ running: true, pid: first.pid, url: first.url, healthy: true });

    const again = await ensureReceiver(paths);
    expect(again).toEqual({ pid: first.pid, url: first.url, started: false });

    const res = await post(`${first.url}${STATIC_PATH}`, eventList([makeEvent()]), {
      ca: t.lab.pki.ca.cert,
      cert: t.lab.pki.client,
    });
    expect(res.status).toBe(200);

    expect(await stopReceiver(paths)).toBe(true);
    expect(isAlive(first.pid)).toBe(false);
    expect(await exists(paths.receiverPid)).toBe(false);
    expect(await receiverStatus(paths)).toEqual({ running: false });
    expect(await stopReceiver(paths)).toBe(false);
  });

  it('says which address a receiver it started listens on (0.0.0.0: every interface)', async () => {
    t = await tempLab(undefined, 0);
    const state = t.lab.state;
    await writeState(t.lab.paths, { ...state, receiver: { ...state.receiver, address: '0.0.0.0' } });
    const first = await ensureReceiver(t.lab.paths);
    expect(first).toMatchObject({ started: true, address: '0.0.0.0' });
    expect(first.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('fails with the end of the receiver log when it cannot start', async () => {
    blocker = createServer();
    await new Promise<void>((r) => blocker!.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    t = await tempLab(undefined, port);
    const err = await ensureReceiver(t.lab.paths).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeFailure);
    expect((err as Error).message).toContain('exited (code 1)');
    expect((err as Error).message).toContain(`port ${port} on 127.0.0.1 is already in use`);
    expect(await exists(t.lab.paths.receiverPid)).toBe(false);
  });

  it('does not replace the pid file of a receiver that wrote its own before its starter did', async () => {
    // On a busy machine the new receiver can listen and write its URL before the process that
    // started it records the pid; that record must not hide the URL the starter waits for.
    t = await tempLab(undefined, 0);
    const paths = t.lab.paths;
    // A process that lives for the test stands for the receiver (not this one: cleanup signals it).
    stand = spawn('sleep', ['600']);
    await writePidFile(paths, stand.pid!, 'https://127.0.0.1:1234', true);
    await recordStarted(paths, stand.pid!);
    expect(await readPidFile(paths)).toMatchObject({
      pid: stand.pid!,
      url: 'https://127.0.0.1:1234',
      background: true,
    });
  });

  it('records a receiver just started when it has not written its pid file yet', async () => {
    t = await tempLab(undefined, 0);
    const paths = t.lab.paths;
    // A process that lives for the test stands for the receiver (not this one: cleanup signals it).
    stand = spawn('sleep', ['600']);
    await recordStarted(paths, stand.pid!);
    const pidFile = await readPidFile(paths);
    expect(pidFile?.pid).toBe(stand.pid!);
    expect(pidFile?.url).toBeUndefined();
    expect(pidFile?.started).toMatch(/\S/);
  });
});
