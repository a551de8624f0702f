/**
 * `status`, `down`, `doctor` and `list` only read labs (a pid file, certificates on disk) and ask the
 * tools: they must not load the HTTPS server or the x509 library, which cost start-up time. Each
 * runs as a process with a hook that records every module it loads.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureLab } from '../../src/lab/lab.js';
import { withLabLock } from '../../src/lab/lock.js';
import { labPaths } from '../../src/lab/paths.js';
import { ROOT, runProcess } from '../harness/cli.js';
import { tempDir } from '../harness/lab.js';

const HOOK = join(ROOT, 'test', 'fixtures', 'hooks', 'record-modules.mjs');
const SERVER = `file://${join(ROOT, 'dist', 'receiver', 'server.js')}`;

/** The modules `audit-lab ARGS` loads, on a lab with certificates and no tools on PATH. */
async function modulesLoaded(args: string[]): Promise<{ code: number | null; modules: string[] }> {
  // Not testDir: its cleanup follows the current test, which in a concurrent describe may be another one.
  const { dir, cleanup } = await tempDir();
  try {
    const home = join(dir, 'home');
    const paths = labPaths(home, 'audit-lab');
    await withLabLock(paths, 'test', () => ensureLab(paths));
    const record = join(dir, 'modules.txt');
    // PATH is an empty directory: no kind, kubectl or docker, so nothing real is asked.
    const r = await runProcess(args, {
      env: { AUDIT_LAB_HOME: home, PATH: dir, RECORD_MODULES: record, NODE_OPTIONS: `--import ${HOOK}` },
    });
    return { code: r.code, modules: (await readFile(record, 'utf8')).split('\n').filter((l) => l !== '') };
  } finally {
    await cleanup();
  }
}

describe.concurrent('commands that only read a lab stay light (as a process)', () => {
  it.each([
    ['status', 0],
    // No kind on PATH, but this lab never had a cluster: nothing to delete is success.
    ['down', 0],
    ['doctor', 1],
    ['list', 0],
  ])('%s loads the daemon control but neither the server nor @peculiar/x509', async (command, code) => {
    const { code: got, modules } = await modulesLoaded([command]);
    expect(got).toBe(code);
    // The hook saw the command and what it uses to find the receiver.
    expect(modules).toContain(`file://${join(ROOT, 'dist', 'commands', `${command}.js`)}`);
    expect(modules).toContain(`file://${join(ROOT, 'dist', 'daemon', 'control.js')}`);
    expect(modules).not.toContain(SERVER);
    expect(modules.filter((m) => m.includes('@peculiar/x509') || m.includes('reflect-metadata'))).toEqual([]);
  });
});

describe.concurrent('--version and --help stay lighter still (as a process)', () => {
  it.each([['--version'], ['--help'], ['sink create --help']])(
    '%s loads commander and no other package',
    async (line) => {
      const { code, modules } = await modulesLoaded(line.split(' '));
      expect(code).toBe(0);
      const packages = new Set(
        modules.filter((m) => m.includes('/node_modules/')).map((m) => m.split('/node_modules/')[1]!.split('/')[0]),
      );
      // The printer (chalk, string-width) is loaded with the command that prints.
      expect([...packages].sort()).toEqual(['commander']);
    },
  );
});
