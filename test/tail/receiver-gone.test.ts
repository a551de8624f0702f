/**
 * A following `tail` or `top` whose receiver stops says so, and how to start it again: silence
 * alone would look like a quiet cluster. The built CLI with a real background receiver (port 0),
 * which the test kills; nothing is timed, each step waits for what the CLI prints.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ensureReceiver } from '../../src/daemon/daemon.js';
import { startCli, startInPty } from '../harness/cli.js';
import { removeWithReceiver, tempLab, type TempLab } from '../harness/lab.js';

let t: TempLab | null = null;
afterEach(async () => {
  if (t) await removeWithReceiver(t);
  t = null;
});

describe('a following command whose receiver stops', () => {
  it('tail -f says so, says how to start it again, and says when it runs again', async () => {
    t = await tempLab(undefined, 0);
    const tail = startCli(['tail', '-f'], { env: { AUDIT_LAB_HOME: t.home } });
    try {
      const pid = Number(
        await tail.waitFor(/started the receiver \(pid (\d+)\)/, 'the receiver started', {
          stream: 'stderr',
          limitMs: 80_000,
        }),
      );
      process.kill(pid, 'SIGKILL');
      const said = await tail.waitFor(/receiver stopped[^\n]*/, 'the stop', { stream: 'stderr', limitMs: 80_000 });
      expect(said).toBe(
        'receiver stopped: no new events are stored. Start it again with `audit-lab tail` (starts it in the background) or `audit-lab serve` (in a terminal)',
      );
      const again = await ensureReceiver(t.lab.paths);
      expect(
        await tail.waitFor(/the receiver runs again \(pid (\d+)\)/, 'the return', {
          stream: 'stderr',
          limitMs: 80_000,
        }),
      ).toBe(String(again.pid));
    } finally {
      await tail.stop('SIGINT');
    }
  });

  it('top at a terminal shows it at the foot of the screen, and the whole message on quitting', async () => {
    t = await tempLab(undefined, 0);
    const top = startInPty(['top', '--by', 'verb'], {
      cols: 120,
      rows: 12,
      env: { AUDIT_LAB_HOME: t.home },
      timeoutMs: 85_000,
    });
    try {
      const pid = Number(
        await top
          .waitFor(/started the receiver \(pid (\d+)\)/, 'the receiver started')
          .then((o) => /started the receiver \(pid (\d+)\)/.exec(o)![1]),
      );
      await top.waitFor(/q quit {2}p pause/, 'the first frame');
      process.kill(pid, 'SIGKILL');
      await top.waitFor(
        /the lab's receiver stopped: no new events are stored \(quit, and run top again to start it\)/,
        'the foot of the screen',
      );
    } finally {
      // q ends top however the steps above went: a failed wait must not leave it running.
      top.type('q');
    }
    const { code, output } = await top.exited;
    expect(code).toBe(0);
    // The warning wraps at the terminal's width: read as one line.
    expect(output.replace(/\n +/g, ' ')).toMatch(
      /receiver stopped: no new events are stored\. Start it again with `audit-lab top` \(starts it in the background\)/,
    );
  });
});
