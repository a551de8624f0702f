/**
 * Commands that say and do what is true: `down` in a lab that never had a cluster, `serve` on a
 * port in use, `sink create` in no lab, `down --keep-cluster` and tail's word on the receiver it
 * leaves, a mode change that would lose a sink's policy, and the hints that name the lab. The
 * built CLI as a process against fake kind, kubectl and docker (test/lifecycle/fakes).
 * Build first: `npm run build`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test, type TestContext } from 'vitest';
import { serveUrl } from '../helpers.js';
import { BIN, freePort, healthyTable, isAlive, type Result, Sandbox } from './harness.js';

async function sandbox(t: TestContext, ...args: Parameters<typeof Sandbox.create>): Promise<Sandbox> {
  const sb = await Sandbox.create(...args);
  t.onTestFinished(() => sb.cleanup());
  return sb;
}

beforeAll(() => {
  if (!existsSync(join(BIN, '..', '..', 'dist', 'commands', 'down.js'))) throw new Error('these tests run the built CLI: run `npm run build` first');
});

function ok(r: Result): Result {
  expect(r.code, `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`).toBe(0);
  return r;
}

/** A lab as `serve` alone makes it (no cluster ever), its receiver left running in the foreground. */
async function servedLab(sb: Sandbox, name = 'audit-lab') {
  const serve = sb.start(['serve', '--name', name, '--port', String(await freePort())]);
  await serveUrl(serve);
  return serve;
}

describe.concurrent('down, when there is no cluster to delete', () => {
  test('a lab that never had a cluster, kind not on PATH: the receiver stops, nothing to delete, exit 0; --purge too', async (t) => {
    const sb = await sandbox(t, healthyTable(), ['docker', 'kubectl']);
    const serve = await servedLab(sb);
    const r = ok(await sb.run(['down']));
    expect(r.stdout).toContain('stopped the receiver');
    expect(r.stdout).toContain('lab "audit-lab" never had a cluster');
    expect(r.stderr).not.toContain('error');
    expect((await serve.exited).code).toBe(0);
    const purge = ok(await sb.run(['down', '--purge']));
    expect(purge.stderr).not.toContain('error');
    expect(existsSync(sb.labDir())).toBe(false);
  });

  test('a lab up made a cluster for, kind then not on PATH: down still says it could not look, exit 1', async (t) => {
    const sb = await sandbox(t, healthyTable());
    ok(await sb.run(['up', '--port', String(await freePort())]));
    await sb.setTable({ ...healthyTable(), kind: [] });
    const { rm } = await import('node:fs/promises');
    await rm(join(sb.bin, 'kind'));
    const r = await sb.run(['down']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('kind is not on PATH: could not look for cluster "audit-lab"');
  });
});

describe.concurrent('stopping only the receiver', () => {
  test('down --keep-cluster stops the receiver and asks no tool; the cluster stays; with --purge it is refused', async (t) => {
    const sb = await sandbox(t, healthyTable());
    ok(await sb.run(['up', '--port', String(await freePort())]));
    const pid = (await sb.receiverPid())!;
    await sb.clearCalls();
    const r = ok(await sb.run(['down', '--keep-cluster']));
    expect(r.stdout).toContain('stopped the receiver');
    expect(r.stdout).toContain('kept cluster "audit-lab": the receiver gets none of its events until `audit-lab up` starts it again');
    expect(isAlive(pid)).toBe(false);
    expect(await sb.calls()).toEqual([]);
    expect((await sb.world()).cluster).toBe(true);
    expect(existsSync(join(sb.labDir(), 'state.json'))).toBe(true);

    const both = await sb.run(['down', '--keep-cluster', '--purge']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give --purge or --keep-cluster, not both');
    expect(existsSync(join(sb.labDir(), 'state.json'))).toBe(true);
  });

});
