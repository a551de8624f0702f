import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { labPaths } from '../../src/lab/paths.js';
import { DEFAULT_SINK, newLabState, newSinkState, writeState } from '../../src/lab/state.js';
import { type CliResult, runProcess } from '../harness/cli.js';
import { testDir } from '../harness/lab.js';

/** A lab with a valid state and nothing else; returns its home and the state file's exact text. */
async function labWithState(
  edit?: (s: Record<string, any>) => void,
): Promise<{ home: string; state: string; text: string }> {
  const home = join(await testDir(), 'home');
  const paths = labPaths(home, 'audit-lab');
  const s = newLabState({ name: 'audit-lab', mode: 'static', image: null, kubernetesVersion: null });
  s.sinks.push(newSinkState(DEFAULT_SINK));
  await writeState(paths, s);
  if (edit) {
    // By hand, the way a person editing the file would: writeState refuses such values.
    const raw = JSON.parse(await readFile(paths.state, 'utf8'));
    edit(raw);
    await writeFile(paths.state, `${JSON.stringify(raw, null, 2)}\n`);
  }
  return { home, state: paths.state, text: await readFile(paths.state, 'utf8') };
}

/** A serve that was not refused keeps serving: stop it well inside the test's timeout, so it fails instead of hanging. */
const SERVING = 15_000;

function expectUsageError(r: CliResult) {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).not.toMatch(/crashed|\n\s+at /);
}

describe('a refused command saves nothing (as a process)', () => {
  it.each([
    ['--address not-an-ip', ['--address', 'not-an-ip'], /--address must be an IP address/],
    ['--address of another machine', ['--address', '192.0.2.1'], /192\.0\.2\.1 is not an address of this machine/],
    [
      '--max-stream-size 0.0000001 (0 bytes)',
      ['--max-stream-size', '0.0000001'],
      /--max-stream-size takes a size in MiB of at least one byte/,
    ],
    ['--max-stream-files 0', ['--max-stream-files', '0'], /--max-stream-files takes a whole number, 1 or more/],
  ])('serve %s: exit 2, state.json byte-identical, no other file made', async (_, flags, message) => {
    const lab = await labWithState();
    const before = await readdir(join(lab.home, 'audit-lab'));
    const r = await runProcess(['serve', '--port', '0', ...flags], {
      env: { AUDIT_LAB_HOME: lab.home },
      timeoutMs: SERVING,
    });
    expectUsageError(r);
    expect(r.stderr).toMatch(message);
    expect(await readFile(lab.state, 'utf8')).toBe(lab.text);
    expect(await readdir(join(lab.home, 'audit-lab'))).toEqual(before);
  });

  it('serve --address not-an-ip on a new lab makes no lab at all', async () => {
    const home = join(await testDir(), 'home');
    const r = await runProcess(['serve', '--address', 'not-an-ip'], {
      env: { AUDIT_LAB_HOME: home },
      timeoutMs: SERVING,
    });
    expectUsageError(r);
    await expect(readdir(home)).rejects.toThrow(/ENOENT/);
  });
});

describe('a hand-edited state.json with a bad value (as a process)', () => {
  const cases: [string, (s: Record<string, any>) => void, string][] = [
    [
      'receiver.port 70000',
      (s) => (s.receiver.port = 70000),
      '"receiver.port" must be a whole number from 0 to 65535, not 70000',
    ],
    ['receiver.address "x"', (s) => (s.receiver.address = 'x'), '"receiver.address" must be an IP address'],
    [
      'streams.maxBytes 0',
      (s) => (s.streams = { maxBytes: 0, maxBackups: 5 }),
      '"streams.maxBytes" must be a whole number, 1 or more, not 0',
    ],
  ];
  const commands: [string, string[]][] = [
    ['serve', ['serve', '--port', '0']],
    ['status', ['status']],
    ['tail', ['tail', '--no-follow']],
  ];
  for (const [label, edit, message] of cases) {
    it.each(commands)(
      `${label}: %s exits 2 naming the file and the field, no stack trace, file unchanged`,
      async (_, argv) => {
        const lab = await labWithState(edit);
        const r = await runProcess(argv, { env: { AUDIT_LAB_HOME: lab.home }, timeoutMs: SERVING });
        expectUsageError(r);
        expect(r.stderr).toContain(`lab state ${lab.state} is not valid: ${message}`);
        expect(await readFile(lab.state, 'utf8')).toBe(lab.text);
      },
    );
  }
});
