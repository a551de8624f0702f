/**
 * The lab's stream files are read only as regular files, never through a symbolic link: a FIFO
 * among them must not hang a reader (open blocks until a writer comes), and a link must not pull
 * in a file from elsewhere. Every command that reads them, as a process.
 */
import { execFileSync } from 'node:child_process';
import { readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sinkFileStem } from '../../src/streams/names.js';
import { labPaths } from '../../src/lab/paths.js';
import type { CliResult } from '../harness/cli.js';
import { fixtureLines, FIXTURES } from '../harness/events.js';
import { makeLab, putFixture, runInHome, testDir } from '../harness/lab.js';

/**
 * Each reader with a lab whose sink `default` has a stream and one more file among its streams.
 * A reader that hangs is killed well inside the test's own timeout, so the test fails on its exit.
 */
const READERS: [string, string[]][] = [
  ['sink list', ['sink', 'list']],
  ['status', ['status']],
  ['tail --no-follow', ['tail', '--no-follow', '-o', 'jsonl']],
  ['top --no-follow', ['top', '--no-follow', '-o', 'json']],
  ['policy test --sink', ['policy', 'test', 'preset:metadata', '--sink', 'default', '-o', 'json']],
  ['policy suggest --sink', ['policy', 'suggest', '--sink', 'default']],
];

async function labWith(extra: (streamsDir: string) => Promise<void>): Promise<{ home: string; streamsDir: string }> {
  const home = await testDir('audit-lab-streams-');
  const paths = await makeLab(home, ['default']);
  await putFixture(paths, 'default.log');
  await extra(paths.streamsDir);
  return { home, streamsDir: paths.streamsDir };
}

function run(home: string, argv: string[]): Promise<CliResult> {
  return runInHome(home, argv);
}

function expectRefused(r: CliResult, message: string): void {
  expect(r.signal, `killed: it did not return\n${r.stderr}`).toBeNull();
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).toContain(message);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('a FIFO among the stream files is refused, never opened to wait for a writer', () => {
  it.each(READERS)('%s: exit 2 naming it', async (_, argv) => {
    const { home, streamsDir } = await labWith(async (dir) => {
      execFileSync('mkfifo', [join(dir, 'default.log.1')]);
    });
    const r = await run(home, argv);
    expectRefused(r, `${join(streamsDir, 'default.log.1')} is a FIFO (named pipe), not a regular file`);
  });

  it("a FIFO in place of a stream's name file: its stream is shown under its stem", async () => {
    // A sink whose name is too long for a file name, deleted from the state: its name is read from <stem>.sink.
    const long = `s${'x'.repeat(240)}`;
    const stem = sinkFileStem(long);
    const { home } = await labWith(async (dir) => {
      await writeFile(join(dir, `${stem}.log`), `${(await fixtureLines('secrets.log'))[0]}\n`);
      execFileSync('mkfifo', [join(dir, `${stem}.sink`)]);
    });
    const r = await run(home, ['tail', '--no-follow', '-o', 'jsonl', '--sink', stem]);
    expect(r.signal, `killed: it did not return\n${r.stderr}`).toBeNull();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
  });
});

describe('a symbolic link among the stream files is refused, its target never read', () => {
  it.each(READERS)('%s: exit 2 naming it', async (_, argv) => {
    const { home, streamsDir } = await labWith(async (dir) =>
      symlink(join(FIXTURES, 'secrets.log'), join(dir, 'default.log.1')),
    );
    const r = await run(home, argv);
    expectRefused(r, `${join(streamsDir, 'default.log.1')} is a symbolic link`);
  });

  it("another sink's current stream a link: refused too", async () => {
    const { home, streamsDir } = await labWith(async (dir) =>
      symlink(join(FIXTURES, 'secrets.log'), join(dir, 'other.log')),
    );
    const r = await run(home, ['tail', '--no-follow', '-o', 'jsonl']);
    expectRefused(r, `${join(streamsDir, 'other.log')} is a symbolic link`);
  });
});

describe('refused before anything is changed', () => {
  it('sink delete: exit 2 with the sink still in the state', async () => {
    const { home, streamsDir } = await labWith(async (dir) => {
      execFileSync('mkfifo', [join(dir, 'default.log.1')]);
    });
    const state = labPaths(home, 'audit-lab').state;
    const before = await readFile(state, 'utf8');
    const r = await run(home, ['sink', 'delete', 'default']);
    expectRefused(r, `${join(streamsDir, 'default.log.1')} is a FIFO (named pipe), not a regular file`);
    expect(await readFile(state, 'utf8')).toBe(before);
  });
});
