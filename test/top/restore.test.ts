/**
 * The live view gives the terminal back however it ends: runLive with a terminal of strings, so
 * that a failure of the reader (which a real run cannot be made to have on demand) is covered.
 */
import { EventEmitter } from 'node:events';
import { Chalk } from 'chalk';
import { describe, expect, it } from 'vitest';
import { GroupTable } from '../../src/top/groups.js';
import { runLive } from '../../src/top/live.js';
import { windowOf } from '../../src/top/window.js';
import { ENTER_FULL_SCREEN, LEAVE_FULL_SCREEN } from '../../src/ui/terminal.js';
import { eventually } from '../harness/wait.js';

function fakeTerminal() {
  let written = '';
  const raw: boolean[] = [];
  const input = Object.assign(new EventEmitter(), {
    setRawMode: (on: boolean) => raw.push(on),
    setEncoding: () => {},
    resume: () => {},
    pause: () => {},
  });
  const out = Object.assign(new EventEmitter(), { columns: 100, rows: 20, write: (s: string) => (written += s) });
  return { input, out, raw, written: () => written };
}

const options = () => ({
  table: new GroupTable({ keys: ['user'], window: windowOf(60), sparkline: true }),
  keys: ['user'],
  window: windowOf(60),
  source: 'sink default',
  style: new Chalk({ level: 0 }),
});

describe('runLive gives the terminal back', () => {
  it('when reading fails: the error comes out, after the screen is left and raw mode is off', async () => {
    const t = fakeTerminal();
    const failing = async () => {
      await new Promise((r) => setTimeout(r, 20));
      throw new Error('disk on fire');
    };
    await expect(
      runLive(options(), { out: t.out, input: t.input, signal: new AbortController().signal }, failing),
    ).rejects.toThrow('disk on fire');
    expect(t.written().startsWith(ENTER_FULL_SCREEN)).toBe(true);
    expect(t.written().endsWith(LEAVE_FULL_SCREEN)).toBe(true);
    expect(t.raw).toEqual([true, false]);
    expect(t.input.listenerCount('data')).toBe(0);
    expect(t.out.listenerCount('resize')).toBe(0);
  });

  it('on q, after a frame with what was read', async () => {
    const t = fakeTerminal();
    const o = options();
    const running = runLive(
      o,
      { out: t.out, input: t.input, signal: new AbortController().signal },
      async (signal, show) => {
        show(
          [
            {
              sink: 'default',
              file: 'default.log',
              lineNo: 1,
              text: '{}',
              event: { user: { username: 'alice' }, requestReceivedTimestamp: new Date().toISOString() },
            },
          ],
          true,
        );
        await new Promise((r) => signal.addEventListener('abort', r));
        return { count: 0, lines: [], first: '' };
      },
    );
    // The frame, whenever it is drawn: waited for, not given a time.
    expect(await eventually(() => /alice +1 /.test(t.written()))).toBe(true);
    t.input.emit('data', 'q');
    await expect(running).resolves.toEqual({ code: 0, skipped: { count: 0, lines: [], first: '' } });
    expect(t.written().endsWith(LEAVE_FULL_SCREEN)).toBe(true);
    expect(t.raw).toEqual([true, false]);
  });

  it('when its signal aborts (SIGINT through untilStopped), and redraws on a resize before that', async () => {
    const t = fakeTerminal();
    const stop = new AbortController();
    const running = runLive(options(), { out: t.out, input: t.input, signal: stop.signal }, async (signal) => {
      await new Promise((r) => signal.addEventListener('abort', r));
      return { count: 0, lines: [], first: '' };
    });
    const frames = () => t.written().split('\u001b[H').length - 1;
    const before = frames();
    t.out.columns = 60;
    t.out.emit('resize');
    expect(frames()).toBe(before + 1);
    stop.abort();
    await expect(running).resolves.toMatchObject({ code: 0 });
    expect(t.written().endsWith(LEAVE_FULL_SCREEN)).toBe(true);
  });
});
