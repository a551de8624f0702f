/**
 * A policy file is read up to a cap, never whole: /dev/zero, or a pipe that never ends, given where
 * a policy goes is refused with a clear message and exit 2, by every command that reads one, as a
 * process (the built CLI).
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_POLICY_BYTES } from '../../src/audit/presets.js';
import { ensureLab } from '../../src/lab/lab.js';
import { labPaths } from '../../src/lab/paths.js';
import { type CliResult, ROOT, runProcess, startCli } from '../harness/cli.js';
import { fakeToolsEnv, testDir } from '../harness/lab.js';

const AUDIT_LOG = join(ROOT, 'test/fixtures/policy/audit.log');
const CAP_MIB = MAX_POLICY_BYTES / 1024 / 1024;
/** A command that reads an endless input to its end never returns: it is killed, and the test fails on how it ended. */
const KILL_AFTER_MS = 60_000;

function expectTooLarge(r: CliResult, shown: string): void {
  expect(r.signal, `killed: it did not return\n${r.stderr.slice(0, 2000)}`).toBeNull();
  expect(r.code, r.stderr.slice(0, 2000)).toBe(2);
  expect(r.stderr).toContain(`error: policy ${shown} is larger than ${CAP_MIB} MiB`);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

/** A lab with its default sink, in a temp home; fake tools say no cluster runs (sink create then only saves). */
async function lab(): Promise<{ env: NodeJS.ProcessEnv; state: string }> {
  const dir = await testDir();
  const paths = labPaths(join(dir, 'home'), 'audit-lab');
  await ensureLab(paths);
  const table = join(dir, 'tools.json');
  const tools = await fakeToolsEnv(table, { kind: [{ args: ['get', 'clusters'], stdout: '' }] });
  return { env: { AUDIT_LAB_HOME: paths.home, AUDIT_LAB_NO_RECEIVER: '1', ...tools }, state: paths.state };
}

describe(`a policy file over ${CAP_MIB} MiB`, () => {
  it.each([
    ['policy test', ['policy', 'test', '/dev/zero', '--file', AUDIT_LOG]],
    ['policy suggest --from', ['policy', 'suggest', '--from', '/dev/zero', '--file', AUDIT_LOG]],
  ])('%s /dev/zero: exit 2, said so', async (_, argv) => {
    const r = await runProcess(argv, {
      env: { AUDIT_LAB_HOME: join(await testDir(), 'home') },
      timeoutMs: KILL_AFTER_MS,
    });
    expectTooLarge(r, '/dev/zero');
  });

  it('sink create --policy /dev/zero: exit 2, said so, the state as it was', async () => {
    const l = await lab();
    const before = await readFile(l.state, 'utf8');
    const r = await runProcess(['sink', 'create', 'big', '--policy', '/dev/zero'], {
      env: l.env,
      timeoutMs: KILL_AFTER_MS,
    });
    expectTooLarge(r, '/dev/zero');
    expect(await readFile(l.state, 'utf8')).toBe(before);
  });

  it('a regular file one byte over is refused; one at the limit is read', async () => {
    const dir = await testDir();
    const policy = 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n';
    const padded = (bytes: number) => `${policy}#${'x'.repeat(bytes - policy.length - 2)}\n`;
    await writeFile(join(dir, 'at.yaml'), padded(MAX_POLICY_BYTES));
    await writeFile(join(dir, 'over.yaml'), padded(MAX_POLICY_BYTES + 1));
    const env = { AUDIT_LAB_HOME: join(dir, 'home') };
    const over = await runProcess(['policy', 'test', 'over.yaml', '--file', AUDIT_LOG], {
      env,
      cwd: dir,
      timeoutMs: KILL_AFTER_MS,
    });
    expectTooLarge(over, 'over.yaml');
    const at = await runProcess(['policy', 'test', 'at.yaml', '--file', AUDIT_LOG, '-o', 'json'], {
      env,
      cwd: dir,
      timeoutMs: KILL_AFTER_MS,
    });
    expect(at.code, at.stderr).toBe(0);
    expect((JSON.parse(at.stdout) as { policy: string }).policy).toBe('at.yaml');
  });

  it('a pipe that never ends (as <(yes) gives) is refused once past the limit, not read to its end', async () => {
    const dir = await testDir();
    const pipe = join(dir, 'policy.pipe');
    execFileSync('mkfifo', [pipe]);
    const cli = startCli(['policy', 'test', pipe, '--file', AUDIT_LOG], {
      env: { AUDIT_LAB_HOME: join(dir, 'home') },
      timeoutMs: KILL_AFTER_MS,
    });
    // Comment lines for as long as the reader takes them: only its exit ends the writing.
    const writer = createWriteStream(pipe);
    writer.on('error', () => {});
    const chunk = Buffer.from(`# ${'x'.repeat(1021)}\n`.repeat(64));
    let open = true;
    void cli.exited.finally(() => {
      open = false;
      writer.destroy();
    });
    const feed = () => {
      while (open && writer.write(chunk));
      if (open) writer.once('drain', feed);
    };
    feed();
    expectTooLarge(await cli.exited, pipe);
  });
});
