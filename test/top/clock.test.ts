/**
 * The live view is on the wall clock: a lab whose last event is 15 minutes old shows 0 events/s
 * and LAST SEEN 15m, and a busy one keeps counting the events that arrive a batch late. runLive
 * with a terminal of strings and a fake clock.
 */
import { EventEmitter } from 'node:events';
import { Chalk } from 'chalk';
import { describe, expect, it } from 'vitest';
import { GroupTable } from '../../src/top/groups.js';
import { runLive } from '../../src/top/live.js';
import { windowOf } from '../../src/top/window.js';
import type { ReadEvent } from '../../src/streams/merge.js';

const NOW = Date.parse('2026-05-01T10:00:00Z');

function terminal() {
  let written = '';
  const input = Object.assign(new EventEmitter(), {
    setRawMode: () => {},
    setEncoding: () => {},
    resume: () => {},
    pause: () => {},
  });
  const out = Object.assign(new EventEmitter(), { columns: 120, rows: 12, write: (s: string) => (written += s) });
  /** The last frame, without escape codes. */
  const frame = () => (written.split('\u001b[H').at(-1) ?? '').replace(/\u001b\[[0-9;?]*[a-zA-Z]/g, '').split(/\r?\n/);
  return { input, out, frame };
}

/** `count` events by `user`, one every 100 ms, the last `agoMs` before NOW. */
function events(user: string, count: number, agoMs: number): ReadEvent[] {
  return Array.from({ length: count }, (_, i) => {
    const at = new Date(NOW - agoMs - (count - 1 - i) * 100).toISOString();
    return {
      sink: 'default',
      file: 'default.log',
      lineNo: i + 1,
      text: '{}',
      event: { user: { username: user }, verb: 'get', requestReceivedTimestamp: at, stageTimestamp: at },
    };
  });
}

async function frameAfter(batch: ReadEvent[]) {
  const t = terminal();
  const o = {
    table: new GroupTable({ keys: ['user'], window: windowOf(60), sparkline: true }),
    keys: ['user'],
    window: windowOf(60),
    source: 'sink default',
    style: new Chalk({ level: 0 }),
    clock: () => NOW,
  };
  let drawn!: () => void;
  const stored = new Promise<void>((r) => (drawn = r));
  const running = runLive(
    o,
    { out: t.out, input: t.input, signal: new AbortController().signal },
    async (signal, show) => {
      show(batch, true);
      drawn();
      await new Promise((r) => signal.addEventListener('abort', r));
      return { count: 0, lines: [], first: '' };
    },
  );
  await stored;
  const frame = t.frame();
  t.input.emit('data', 'q');
  await running;
  return frame;
}

describe('top live on the clock', () => {
  it('a lab idle for 15 minutes: 0 events/s, LAST SEEN 15m, an empty sparkline', async () => {
    const frame = await frameAfter(events('alice', 50, 15 * 60_000));
    expect(frame[0]).toMatch(/ · 0 events\/s · 0B\/s · 1 group · /);
    const row = frame.find((l) => l.startsWith('alice'))!;
    expect(row).toMatch(/^alice +50 +0 +0\.0% +150B +0B +15m$/);
    expect(row).not.toMatch(/[▁▂▃▄▅▆▇█]/);
  });

  it('a busy lab whose events arrive a second late still shows their rate', async () => {
    const frame = await frameAfter(events('bob', 50, 1_000));
    expect(frame[0]).not.toMatch(/ · 0 events\/s/);
    const row = frame.find((l) => l.startsWith('bob'))!;
    expect(row).toMatch(/^bob +50 +0\.83 +100\.0% +150B +3B +1s +\S+$/);
  });
});
