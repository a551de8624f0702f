/**
 * `audit-lab top` at a terminal: the built CLI in a real pseudo-terminal (startInPty, util-linux
 * `script`), following a lab's streams that the test writes (AUDIT_LAB_NO_RECEIVER=1: no receiver).
 * One frame is checked for its content; quitting (q, Ctrl-C, SIGTERM) must give the terminal back:
 * leave the alternate screen and show the cursor again.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { LabPaths } from '../../src/lab/paths.js';
import { ROOT, startInPty, terminalScreen } from '../harness/cli.js';
import { expectedGroups, fileText, generate, type Spec } from '../harness/events.js';
import { makeLab, removeHome, tempHome } from '../harness/lab.js';
import { eventually } from '../harness/wait.js';

const ENTER = ['\u001b[?1049h', '\u001b[?25l'];
const LEAVE = ['\u001b[?25h', '\u001b[?1049l'];

let home: string;
let paths: LabPaths;
let specs: Spec[];

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist/commands/top.js')))
    throw new Error('dist/ has no top command: run `npm run build` first');
});

beforeEach(async () => {
  home = await tempHome();
  paths = await makeLab(home, ['default']);
  // The last 20 seconds, 10 events a second: all of it inside the one-minute window.
  specs = generate({ count: 200, seed: 3, startMicros: (Date.now() - 20_000) * 1000, perSecond: 10 });
  await writeFile(join(paths.streamsDir, 'default.log'), fileText(specs));
});

afterEach(async () => {
  await removeHome(home);
});

const env = () => ({ AUDIT_LAB_HOME: home, AUDIT_LAB_NO_RECEIVER: '1', TZ: 'UTC' });
/** A whole frame (cursor home to clear-below) drawn once what was stored has been read. */
const FRAME = /\u001b\[H(?:(?!reading stored|\u001b\[H)[^])*\u001b\[J/;
const plain = (s: string) => s.replace(/\u001b\[[0-9;?]*[a-zA-Z]/g, '');
/** The last full frame drawn: from the last cursor-home to the clear-below that ends it. */
function lastFrame(output: string): string[] {
  const frames = output.split('\u001b[H');
  const done = frames.filter((f) => f.includes('\u001b[J'));
  return plain(done.at(-1) ?? '')
    .split(/\r*\n/)
    .map((l) => l.replace(/\r/g, ''));
}

describe('top at a terminal', () => {
  it('draws a full screen of the busiest groups, and q quits and gives the terminal back', async () => {
    const pty = startInPty(['top', '--by', 'verb'], { cols: 120, rows: 20, env: env() });
    await pty.waitFor(FRAME, 'a frame of what is stored');
    const frame = lastFrame(pty.output());
    expect(frame).toHaveLength(20);
    expect(frame[0]).toMatch(
      /^sink default · window 1m · [\d.]+ events\/s · [\d.]+\w*\/s · (\d+) groups · sorted by EVENTS\/S$/,
    );
    expect(frame[1]).toMatch(/^VERB +EVENTS +EVENTS\/S +SHARE +BYTES +BYTES\/S +LAST SEEN +LAST MINUTE$/);
    const want = [...expectedGroups(specs, ['verb'])].sort(
      (a, b) => b[1].events - a[1].events || (a[0] < b[0] ? -1 : 1),
    );
    const rows = frame.slice(2, 2 + want.length);
    // Every event is in the window, so the order by rate is the order by count; each row has its count.
    rows.forEach((row, i) => expect(row).toMatch(new RegExp(`^${JSON.parse(want[i]![0])[0]} +${want[i]![1].events} `)));
    for (const row of frame) expect(Array.from(row).length).toBeLessThanOrEqual(120);
    expect(frame.at(-1)).toMatch(/^q quit {2}p pause {2}< > sort/);
    expect(pty.output().startsWith(ENTER.join(''))).toBe(true);

    pty.type('q');
    const r = await pty.exited;
    expect(r.code).toBe(0);
    const after = r.output.slice(r.output.lastIndexOf('\u001b[?25l'));
    for (const seq of LEAVE) expect(after).toContain(seq);
    expect(r.output.endsWith('\u001b[?1049l')).toBe(true);
  });

  it.each([['user,verb'], ['user'], ['resource']])(
    'at 80x24, --by %s: the screen shows every line of the frame whole, facts and keys whole',
    async (by) => {
      const pty = startInPty(['top', '--by', by], { cols: 80, rows: 24, env: env() });
      await pty.waitFor(FRAME, 'a frame of what is stored');
      pty.type('q');
      const r = await pty.exited;
      expect(r.code).toBe(0);
      const drawn = r.output.slice(0, r.output.lastIndexOf('\u001b[?7h'));
      const written = lastFrame(drawn);
      const shown = terminalScreen(drawn, 80, 24);
      expect(written).toHaveLength(24);
      // What the terminal shows is what was written: no line lost its last character to an erase.
      expect(shown).toEqual(written.map((l) => l.trimEnd()));
      for (const l of written) expect(Array.from(l).length, l).toBeLessThan(80);
      expect(shown[1]).toMatch(/ (LAST SEEN|BYTES\/S|LAST MINUTE)$/);
      // Parts of the title and the keys are left out whole, never cut in a word.
      expect(shown[0]).toMatch(/^sink default · window 1m · [^…]*$/);
      expect(shown[0]).toMatch(/(groups( \(\d+ shown\))?|events\/s|EVENTS\/S)$/);
      expect(shown[23]).toMatch(/^q quit {2}p pause .* R reverse$/);
    },
  );

  it('follows: events appended to a stream show up in the next frames', async () => {
    const pty = startInPty(['top', '--by', 'user'], { cols: 100, rows: 16, env: env() });
    await pty.waitFor(FRAME, 'a frame of what is stored');
    const line = JSON.stringify({
      ...(JSON.parse(specs.at(-1)!.line) as object),
      user: { username: 'late-arrival' },
      requestReceivedTimestamp: new Date().toISOString(),
    });
    await appendFile(join(paths.streamsDir, 'default.log'), `${line}\n`);
    await pty.waitFor(/late-arrival +1 /, 'the appended event in a frame');
    pty.type('\u0003');
    const r = await pty.exited;
    expect(r.code).toBe(0);
    expect(r.output.endsWith('\u001b[?1049l')).toBe(true);
  });

  it('keys: e sorts by EVENTS, p pauses and resumes', async () => {
    const pty = startInPty(['top'], { cols: 140, rows: 30, env: env() });
    await pty.waitFor(FRAME, 'a frame of what is stored');
    pty.type('e');
    await pty.waitFor(/sorted by EVENTS(?!\/)/, 'sorted by events');
    // On a terminal the sorted column's name is underlined: waited for too, since the frame's
    // lines may reach the terminal in more than one read.
    await pty.waitFor(/\u001b\[4mEVENTS\u001b\[24m/, 'EVENTS underlined in the table header');
    pty.type('p');
    await pty.waitFor(/PAUSED/, 'the paused state');
    pty.type('q');
    const r = await pty.exited;
    expect(r.code).toBe(0);
  });

  it('SIGTERM ends it with the terminal given back, and exit code 143', async () => {
    const pty = startInPty(['top'], { cols: 100, rows: 16, env: env() });
    await pty.waitFor(FRAME, 'a frame of what is stored');
    let cli = 0;
    expect(await eventually(() => (cli = findCli()) > 0)).toBe(true);
    process.kill(cli, 'SIGTERM');
    const r = await pty.exited;
    expect(r.code).toBe(143);
    const after = r.output.slice(r.output.lastIndexOf('\u001b[?25l'));
    for (const seq of LEAVE) expect(after).toContain(seq);
  });

  it('--no-follow at a terminal prints one table fitted to the width, with sparklines, and exits', async () => {
    const pty = startInPty(['top', '--no-follow', '--by', 'user,resource'], { cols: 132, rows: 40, env: env() });
    const r = await pty.exited;
    expect(r.code).toBe(0);
    expect(r.output).not.toContain(ENTER[0]);
    const out = plain(r.output)
      .split('\n')
      .filter((l) => l !== '');
    expect(out[0]).toMatch(/^USER +RESOURCE +EVENTS +EVENTS\/S +SHARE +BYTES +BYTES\/S +LAST SEEN +LAST MINUTE$/);
    for (const l of out) expect(Array.from(l).length).toBeLessThanOrEqual(132);
    expect(out.some((l) => /[▁▂▃▄▅▆▇█]/.test(l))).toBe(true);
    expect(out.at(-1)).toMatch(/^\d+ groups, 200 events over \d+s: /);
  });
});

/** The pid of the CLI this test started in a pty (script's child): the one whose environment has this test's lab home. */
function findCli(): number {
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8');
      const [program, script] = cmd.split('\u0000');
      if (
        program === process.execPath &&
        script?.endsWith('audit-lab.js') &&
        environ.includes(`AUDIT_LAB_HOME=${home}\u0000`)
      )
        return Number(entry);
    } catch {
      // gone, or not ours
    }
  }
  return 0;
}
