/**
 * One way to read events: what a lab stored is read by `tail`, `top`, `policy test --sink` and
 * `policy suggest --sink` alike. Each sees the same events, and the lines that are not audit
 * events are decided by the receiver's own check (decodeBody): the same lines refused, for the
 * same reasons, listed once at the end in the same words, and exit 2. The built CLI as a process.
 */
import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DecodeError, decodeBody } from '../../src/audit/eventShape.js';
import type { LabPaths } from '../../src/lab/paths.js';
import { fixtureLines, variant } from '../harness/events.js';
import { makeLab, removeHome, runInHome, tempHome } from '../harness/lab.js';

let home: string;
let paths: LabPaths;

beforeEach(async () => {
  home = await tempHome();
  paths = await makeLab(home, ['default']);
});

afterEach(() => removeHome(home));

/** A fixture event made distinct, its user named after it (so `top --by user` shows which events it counted). */
async function good(id: string): Promise<string> {
  const [line] = await fixtureLines('default.log');
  return variant(line!, id, { user: { username: id } });
}

/** The receiver's reason for refusing `line` (as the body of a request), without its 'body' prefix. */
function receiverReason(line: string): string {
  try {
    decodeBody(line, '');
  } catch (err) {
    if (err instanceof DecodeError) return err.message;
    throw err;
  }
  throw new Error(`the receiver takes ${line}`);
}

interface Seen {
  command: string;
  code: number | null;
  /** The auditIDs read (for `policy suggest`, which names none, only how many). */
  ids: string[] | number;
  /** From the first `error:` line on, what stderr lists at the end. */
  refused: string;
}

const HINT =
  'hint: each line must be an audit.k8s.io/v1 (or v1beta1) Event or EventList as JSON, as --audit-log-path writes them';

/** Runs the four readers of sink `default`. */
async function readers(): Promise<Seen[]> {
  const run = async (command: string, argv: string[], ids: (stdout: string) => string[] | number): Promise<Seen> => {
    const r = await runInHome(home, argv);
    expect(r.stderr, command).not.toMatch(/\n\s+at /);
    const from = r.stderr.search(/^error: /m);
    const refused = from < 0 ? '' : r.stderr.slice(from);
    return { command, code: r.code, ids: r.stdout === '' ? [] : ids(r.stdout), refused };
  };
  return [
    await run('tail --no-follow', ['tail', '--no-follow', '-o', 'jsonl'], (out) =>
      out
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { auditID: string }).auditID),
    ),
    await run('top --no-follow', ['top', '--no-follow', '-o', 'json', '--by', 'user'], (out) =>
      (JSON.parse(out) as { groups: { key: { user: string } }[] }).groups.map((g) => g.key.user).sort(),
    ),
    await run('policy test --sink', ['policy', 'test', 'preset:metadata', '--sink', 'default', '-o', 'json'], (out) =>
      (JSON.parse(out) as { results: { auditID: string }[] }).results.map((x) => x.auditID),
    ),
    await run(
      'policy suggest --sink',
      ['policy', 'suggest', '--sink', 'default', '-o', 'json'],
      (out) => (JSON.parse(out) as { events: number }).events,
    ),
  ];
}

describe('a lab stream read by tail, top, policy test and policy suggest', () => {
  it('an event, one without a stage, a line not JSON: one event, two refused, in the same words, exit 2', async () => {
    const stream = join(paths.streamsDir, 'default.log');
    const noStage = JSON.parse(await good('nostage1')) as Record<string, unknown>;
    delete noStage.stage;
    const bad = [JSON.stringify(noStage), 'not json'];
    await writeFile(stream, `${await good('good0001')}\n${bad.join('\n')}\n`);
    const want = [
      'error: 2 lines are not audit events (the receiver would refuse them), so they were left out:',
      `  ${stream}:2: ${receiverReason(bad[0]!)}`,
      `  ${stream}:3: ${receiverReason(bad[1]!)}`,
      HINT,
      '',
    ].join('\n');
    const seen = await readers();
    for (const s of seen) {
      expect(s.code, s.command).toBe(2);
      expect(s.ids, s.command).toEqual(s.command.startsWith('policy suggest') ? 1 : ['good0001']);
      expect(s.refused, s.command).toBe(want);
    }
  });

  // The receiver may be writing <sink>.log's last line; a rotated file is whole.
  it("a rotated file's last line without a newline is read; <sink>.log's unfinished one is not refused", async () => {
    await writeFile(join(paths.streamsDir, 'default.log.1'), await good('rotated1'));
    const live = await good('livegood');
    await writeFile(join(paths.streamsDir, 'default.log'), `${live}\n`);
    await appendFile(join(paths.streamsDir, 'default.log'), (await good('unfinish')).slice(0, 60));
    const seen = await readers();
    for (const s of seen) {
      expect(s.code, `${s.command}\n${s.refused}`).toBe(0);
      const ids = Array.isArray(s.ids) ? [...s.ids].sort() : s.ids;
      expect(ids, s.command).toEqual(s.command.startsWith('policy suggest') ? 2 : ['livegood', 'rotated1']);
      expect(s.refused, s.command).toBe('');
    }
  });
});
