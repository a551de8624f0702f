/**
 * A receiver.pid that outlived its receiver: its pid may belong to any program by now. down, up
 * and status run through `run(argv, io)` against a real `sleep` whose pid is in the file, and must leave
 * it alone. Build first: `npm run build`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test, type TestContext } from 'vitest';
import { labPaths } from '../../src/lab/paths.js';
import { newLabState, writeState } from '../../src/lab/state.js';
import { freePort, isAlive, type Result, Sandbox } from '../harness/lab.js';
import { healthyTable } from '../harness/tables.js';

async function sandbox(t: TestContext): Promise<Sandbox> {
  const sb = await Sandbox.create(healthyTable());
  t.onTestFinished(() => sb.cleanup());
  return sb;
}

/** A real process that is not audit-lab, killed when the test ends. */
async function bystander(t: TestContext): Promise<ChildProcess & { pid: number }> {
  const child = spawn('sleep', ['300'], { stdio: 'ignore' });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  t.onTestFinished(() => {
    child.kill('SIGKILL');
  });
  return child as ChildProcess & { pid: number };
}

function ok(r: Result): Result {
  expect(r.code, `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`).toBe(0);
  return r;
}

async function labWithPidFile(sb: Sandbox, content: string, port: number): Promise<string> {
  const paths = labPaths(sb.home, 'audit-lab');
  const state = newLabState({ name: 'audit-lab', mode: 'static', image: null, kubernetesVersion: null });
  await writeState(paths, { ...state, receiver: { ...state.receiver, port } });
  await mkdir(paths.dir, { recursive: true });
  await writeFile(paths.receiverPid, content);
  return paths.receiverPid;
}

describe.concurrent('a stale receiver.pid naming another process', () => {
  // As an older audit-lab wrote it (pid and URL only), and as this one writes it but for another start.
  const forms = {
    'pid only': (pid: number, port: number) => `${pid}\nhttps://127.0.0.1:${port}\n`,
    'another start time': (pid: number, port: number) => `${pid}\nhttps://127.0.0.1:${port}\nproc:1\n`,
  };
  for (const [form, content] of Object.entries(forms)) {
    test(`${form}: status does not call it the receiver, down does not signal it`, async (t) => {
      const sb = await sandbox(t);
      const sleeper = await bystander(t);
      const port = await freePort();
      const pidFile = await labWithPidFile(sb, content(sleeper.pid, port), port);

      const st = JSON.parse(ok(await sb.run(['status', '--json'])).stdout) as {
        receiver: { running: boolean; pid: number | null };
      };
      expect(st.receiver).toMatchObject({ running: false, pid: null });
      expect(isAlive(sleeper.pid)).toBe(true);

      const d = ok(await sb.run(['down']));
      expect(d.stdout).toContain('no receiver running');
      expect(d.stdout).not.toContain('stopped the receiver');
      expect(isAlive(sleeper.pid)).toBe(true);
      // Stale: removed, so nothing later mistakes it for the receiver again.
      await expect(readFile(pidFile, 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
    });
  }

  test('up starts a receiver of its own and leaves the other process alive', async (t) => {
    const sb = await sandbox(t);
    const sleeper = await bystander(t);
    const port = await freePort();
    await labWithPidFile(sb, forms['pid only'](sleeper.pid, port), port);

    ok(await sb.run(['up', '--port', String(port)]));
    const pid = await sb.receiverPid();
    expect(pid).not.toBe(sleeper.pid);
    expect(isAlive(pid!)).toBe(true);
    expect(isAlive(sleeper.pid)).toBe(true);

    // The pid file it wrote names that receiver with its start time, so down stops it.
    expect((await readFile(join(sb.labDir(), 'receiver.pid'), 'utf8')).split('\n')[2]).toMatch(/^proc:\d+$/);
    expect(ok(await sb.run(['down'])).stdout).toContain('stopped the receiver');
    expect(isAlive(pid!)).toBe(false);
    expect(isAlive(sleeper.pid)).toBe(true);
  });
});
