/**
 * Text from outside (event fields, paths, tools' output, user input
 * quoted in errors) reaches a person escaped, at the one place each kind of output goes through;
 * machine output (--json) keeps it exact.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { printFindings } from '../../src/ui/findings.js';
import { ToolError, UserError } from '../../src/errors.js';
import { escapeLines, escapeStrings } from '../../src/ui/escape.js';
import { Output } from '../../src/ui/output.js';
import { tableLines } from '../../src/ui/table.js';
import { failWith, runProcess } from '../harness/cli.js';
import { makeLab, testDir } from '../harness/lab.js';

/** What a terminal acts on; the line feed is left out, as our own line breaks are kept. */
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

describe('escapeLines and escapeStrings', () => {
  it('escapeLines keeps the line breaks and escapes each line, CR included', () => {
    expect(escapeLines('a\x1b[2J\nb\r\n\u202ec')).toBe('a\\x1b[2J\nb\\x0d\n\\u202ec');
  });

  it('escapeStrings escapes every string of a report, at any depth, and keeps the rest', () => {
    const r = { dir: '/h\x1b', n: 3, ok: true, none: null, list: [{ t: '\x9b' }, 'x\u202e'] };
    expect(escapeStrings(r)).toEqual({
      dir: '/h\\x1b',
      n: 3,
      ok: true,
      none: null,
      list: [{ t: '\\x9b' }, 'x\\u202e'],
    });
    expect(r.dir).toBe('/h\x1b');
    const at = new Date(0);
    expect(escapeStrings({ at }).at).toBe(at);
  });
});

describe('tableLines', () => {
  it('escapes each cell and pads by the escaped width', () => {
    const lines = tableLines([
      ['NAME', 'LAST', 'END'],
      ['a\x1b[2J', '\u202e', 'x\r'],
      ['bb', 'long', 'y'],
    ]);
    expect(lines).toEqual(['NAME      LAST    END', 'a\\x1b[2J  \\u202e  x\\x0d', 'bb        long    y']);
  });
});

describe('Output', () => {
  const capture = () => {
    let err = '';
    const out = new Output({ write: () => true, isTTY: false }, { write: (s: string) => (err += s), isTTY: false }, {});
    return { out, err: () => err };
  };

  it('warn and error escape what they quote, line by line', () => {
    const c = capture();
    c.out.warn('skipped a line of ev\x1b[2J.log\nsecond \u202eline');
    c.out.error('no sink "\x9b"');
    expect(c.err()).toBe('warning: skipped a line of ev\\x1b[2J.log\nsecond \\u202eline\nerror: no sink "\\x9b"\n');
  });

  it("doctor's findings escape the tool output they quote", () => {
    const c = capture();
    printFindings(
      c.out,
      [
        {
          check: 'docker',
          status: 'fail',
          message: 'docker info: \x1b[31mCannot connect\x1b[0m\r',
          fix: 'start \u202edocker',
        },
      ],
      true,
    );
    expect(c.err()).toBe(
      '✗ docker  docker info: \\x1b[31mCannot connect\\x1b[0m\\x0d\n          fix: start \\u202edocker\n',
    );
  });
});

describe('the top-level error printer', () => {
  it('a user error keeps our line breaks and escapes what it quotes', async () => {
    const r = await failWith(
      new UserError('invalid policy:\n  p\x1b]0;pwned\x07.yaml:1:1: unknown field "\u202ex"', 'fix \x9bit'),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'error: invalid policy:\n  p\\x1b]0;pwned\\x07.yaml:1:1: unknown field "\\u202ex"\nhint: fix \\x9bit\n',
    );
  });

  it("a tool's output shows its ANSI colours visibly, and its command line is escaped", async () => {
    const r = await failWith(
      new ToolError(
        'kind create cluster failed',
        ['kind', 'create', 'cluster', '--name', 'a\x1b[2J'],
        '\x1b[31mERROR\x1b[0m: boom\r\nmore\x07',
        'run doctor',
      ),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'error: kind create cluster failed\ncommand: kind create cluster --name a\\x1b[2J\ncommand output:\n  \\x1b[31mERROR\\x1b[0m: boom\\x0d\n  more\\x07\nhint: run doctor\n',
    );
  });
});

describe('sink list and status as processes', () => {
  /** A lab under a home whose path holds ESC and RLO, with an event whose time field is hostile. */
  async function hostileLab() {
    const home = join(await testDir(), 'home\x1b]0;pwned\x07\u202e');
    await mkdir(home);
    const paths = await makeLab(home, ['default']);
    await writeFile(
      join(paths.streamsDir, 'default.log'),
      `${JSON.stringify({ kind: 'Event', stageTimestamp: '\x1b[2J2024\r\u202e' })}\n`,
    );
    const empty = join(home, 'no-tools');
    await mkdir(empty);
    // No kind, docker or kubectl: status must not ask real ones.
    return { home, paths, env: { AUDIT_LAB_HOME: home, PATH: empty } };
  }

  it('sink list shows event-derived values escaped; --json keeps them exact', async () => {
    const { env } = await hostileLab();
    const r = await runProcess(['sink', 'list'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(RAW);
    expect(r.stdout).toContain('\\x1b[2J2024\\x0d\\u202e');
    const j = await runProcess(['sink', 'list', '--json'], { env });
    expect((JSON.parse(j.stdout) as { items: { lastEvent: string }[] }).items[0]!.lastEvent).toBe(
      '\x1b[2J2024\r\u202e',
    );
  });

  it('status shows paths and event-derived values escaped; --json keeps them exact', async () => {
    const { home, paths, env } = await hostileLab();
    const r = await runProcess(['status'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(RAW);
    expect(r.stdout).toContain(`home\\x1b]0;pwned\\x07\\u202e/audit-lab`);
    expect(r.stdout).toContain('\\x1b[2J2024\\x0d\\u202e');
    const j = await runProcess(['status', '--json'], { env });
    const rep = JSON.parse(j.stdout) as { lab: { dir: string }; sinks: { lastEvent: string }[] };
    expect(rep.lab.dir).toBe(paths.dir);
    expect(rep.lab.dir.startsWith(home)).toBe(true);
    expect(rep.sinks[0]!.lastEvent).toBe('\x1b[2J2024\r\u202e');
  });
});

describe('a spinner on a terminal', () => {
  it("shows a tool's progress line escaped", async () => {
    let written = '';
    const seen: (() => void)[] = [];
    const tty = {
      isTTY: true,
      columns: 80,
      write: (s: string) => {
        written += s;
        for (const f of seen) f();
        return true;
      },
      cursorTo: () => true,
      moveCursor: () => true,
      clearLine: () => true,
      on: () => tty,
      once: () => tty,
      removeListener: () => tty,
    };
    const out = new Output({ write: () => true, isTTY: false }, tty, {});
    expect(out.interactive).toBe(true);
    const spin = await out.spinner('creating the cluster');
    try {
      spin.update('Preparing \x1b[2Jnodes\u202e');
      // ora draws the new text on its next frame: wait for that write, not for a time.
      await new Promise<void>((resolve) => {
        const check = () => written.includes('Preparing') && resolve();
        seen.push(check);
        check();
      });
    } finally {
      spin.succeed();
    }
    expect(written).toContain('Preparing \\x1b[2Jnodes\\u202e');
    expect(written).not.toContain('\x1b[2J');
    expect(written).not.toContain('\u202e');
  });
});
