/**
 * Commands that say and do what is true: `down` in a lab that never had a cluster, `serve` on a
 * port in use, `sink create` in no lab, `down --keep-cluster` and tail's word on the receiver it
 * leaves, a mode change that would lose a sink's policy, and the hints that name the lab. Through
 * `run(argv, io)` (the built CLI as a process for serve and a terminal) against fake kind, kubectl
 * and docker (test/lifecycle/fakes).
 * Build first: `npm run build`.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { beforeAll, describe, expect, test, type TestContext } from 'vitest';
import { BIN, serveUrl, startInPty } from '../harness/cli.js';
import { type Call, freePort, isAlive, type Result, Sandbox } from '../harness/lab.js';
import { healthyTable } from '../harness/tables.js';
import { eventually } from '../harness/wait.js';

async function sandbox(t: TestContext, ...args: Parameters<typeof Sandbox.create>): Promise<Sandbox> {
  const sb = await Sandbox.create(...args);
  t.onTestFinished(() => sb.cleanup());
  return sb;
}

beforeAll(() => {
  if (!existsSync(join(BIN, '..', '..', 'dist', 'commands', 'down.js')))
    throw new Error('these tests run the built CLI: run `npm run build` first');
});

function ok(r: Result): Result {
  expect(r.code, `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`).toBe(0);
  return r;
}

const line = (c: Call) => `${c.tool} ${c.args.join(' ')}`;

/** A lab as `serve` alone makes it (no cluster ever), its receiver left running in the foreground. */
async function servedLab(sb: Sandbox, name = 'audit-lab') {
  const serve = sb.start(['serve', '--name', name, '--port', String(await freePort())]);
  await serveUrl(serve);
  return serve;
}

/** A loopback port something else listens on, for as long as the test runs. */
async function takenPort(t: TestContext): Promise<number> {
  const other = createServer();
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', () => r()));
  t.onTestFinished(() => new Promise<void>((r) => other.close(() => r())));
  return (other.address() as { port: number }).port;
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
    expect(r.stdout).toContain(
      'kept cluster "audit-lab": the receiver gets none of its events until `audit-lab up` starts it again',
    );
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

describe.concurrent('serve on a port in use', () => {
  test('serve --name lab3 --port P, P taken: exit 1, and no lab (nor lab home) is left made', async (t) => {
    const sb = await sandbox(t, healthyTable());
    const port = await takenPort(t);
    const r = await sb.runProcess(['serve', '--name', 'lab3', '--port', String(port)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`port ${port} on 127.0.0.1 is already in use`);
    expect(existsSync(sb.labDir('lab3'))).toBe(false);
    expect(existsSync(sb.home)).toBe(false);
  });

  test('an existing lab: serve --address 0.0.0.0 --port P, P taken, keeps its state as it was', async (t) => {
    const sb = await sandbox(t, healthyTable());
    const serve = await servedLab(sb);
    await serve.stop();
    const before = await readFile(join(sb.labDir(), 'state.json'), 'utf8');
    const r = await sb.runProcess(['serve', '--address', '0.0.0.0', '--port', String(await takenPort(t))]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('already in use');
    expect(await readFile(join(sb.labDir(), 'state.json'), 'utf8')).toBe(before);
  });
});

describe.concurrent('what tail says of the receiver it leaves running', () => {
  test("tail's Ctrl-C names a foreground `serve` as such, a background receiver as one, and down --keep-cluster for both", async (t) => {
    const sb = await sandbox(t, healthyTable());
    const serve = await servedLab(sb);
    const tailAt = async (env: NodeJS.ProcessEnv) => {
      const pty = startInPty(['tail'], { env: sb.env(env) });
      await pty.waitFor(/waiting for events in sink default \(Ctrl-C/, 'the waiting note');
      pty.type('\u0003');
      // The note is wrapped to the terminal's width, under itself: read as one line.
      return (await pty.exited).output.replace(/\r?\n +/g, ' ');
    };
    const fg = await tailAt({ AUDIT_LAB_NO_RECEIVER: '1' });
    expect(fg).toContain(
      `the receiver keeps running: \`audit-lab serve\` (pid ${serve.child.pid}) in the foreground where it was started`,
    );
    expect(fg).toContain('Ctrl-C there stops it (or `audit-lab down --keep-cluster`)');
    expect(fg).not.toContain('background');
    await serve.stop();

    // tail starts the receiver itself, in the background.
    const bg = await tailAt({});
    const pid = await sb.receiverPid();
    expect(pid).not.toBeNull();
    expect(bg).toContain(
      `the receiver keeps running in the background (pid ${pid}), storing events; \`audit-lab down --keep-cluster\` stops it and leaves the cluster`,
    );
    ok(await sb.run(['down', '--keep-cluster']));
    expect(await eventually(() => !isAlive(pid!))).toBe(true);
  });
});

describe.concurrent('a lab that does not exist', () => {
  test('sink create, sink delete, sink list and tail refuse alike (exit 2), naming up and serve with --name, and leave nothing', async (t) => {
    const sb = await sandbox(t, healthyTable());
    for (const args of [
      ['sink', 'create', 'full', '--level', 'RequestResponse'],
      ['sink', 'delete', 'default'],
      ['sink', 'list'],
      ['tail', '--no-follow'],
    ]) {
      const r = await sb.run([...args, '--name', 'lab6']);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain(`there is no lab named "lab6" in ${sb.home}`);
      expect(r.stderr).toContain(
        'hint: make it with `audit-lab up --name lab6` (cluster and receiver), or `audit-lab serve --name lab6` (the receiver alone, no cluster)',
      );
      expect(existsSync(sb.home), args.join(' ')).toBe(false);
    }
    expect(await sb.calls()).toEqual([]);
  });
});

describe.concurrent('sink create of an unchanged sink', () => {
  test('sink create of an unchanged sink says only "unchanged", even with no cluster', async (t) => {
    const sb = await sandbox(t, healthyTable());
    const serve = await servedLab(sb);
    await serve.stop();
    const r = ok(await sb.run(['sink', 'create', 'default']));
    expect(r.stdout.split('\n')[0]).toBe('sink "default" unchanged');
    // A new lab captures everything, so a changed sink needs nothing from a cluster either.
    const changed = ok(await sb.run(['sink', 'create', 'default', '--level', 'Request']));
    expect(changed.stdout.split('\n')[0]).toBe('sink "default" configured: level Metadata -> Request');
  });
});

describe.concurrent('a mode change that would lose what a sink asked for', () => {
  test('a static lab with a --policy sink: up --image 1.18 (dry run or not) and render refuse with exit 2; --mode static is taken', async (t) => {
    const sb = await sandbox(t, healthyTable());
    const serve = await servedLab(sb);
    await serve.stop();
    ok(await sb.run(['sink', 'create', 'prod', '--policy', 'preset:recommended']));
    const image = 'kindest/node:v1.18.19';
    for (const args of [
      ['up', '--image', image, '--dry-run'],
      ['up', '--image', image],
      ['render', '--image', image],
    ]) {
      await sb.clearCalls();
      const r = await sb.run(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain('sink "prod" applies policy preset:recommended, which an AuditSink cannot hold');
      expect(r.stderr).toContain('keep static mode with --mode static');
      expect(r.stdout).toBe('');
      expect(
        (await sb.calls())
          .map(line)
          .filter(
            (c) => !c.startsWith('docker info') && !c.startsWith('kind version') && !c.startsWith('kubectl version'),
          ),
      ).toEqual([]);
    }
    const state = JSON.parse(await readFile(join(sb.labDir(), 'state.json'), 'utf8')) as {
      mode: string;
      image: string | null;
    };
    expect(state).toMatchObject({ mode: 'static', image: null });
    const kept = ok(await sb.run(['up', '--image', image, '--mode', 'static', '--dry-run']));
    expect(kept.stderr).toContain('static mode, kindest/node:v1.18.19');
  });
});

describe.concurrent('small truths', () => {
  test('up --name lab9 failing its checks: the hint names the lab', async (t) => {
    const sb = await sandbox(t, healthyTable({ name: 'lab9' }), ['kind', 'kubectl']);
    const r = await sb.run(['up', '--name', 'lab9']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('hint: fix what they name, then run `audit-lab up --name lab9` again');
  });

  test('doctor: a cgroup row when Docker does not answer; on a static lab no warning about what only dynamic mode needs', async (t) => {
    const sb = await sandbox(t, healthyTable({ cgroup: '2', kindVersion: '0.29.0' }));
    type Doctor = { checks: { check: string; status: string; message: string }[] };
    const checks = async () => (JSON.parse((await sb.run(['doctor', '-o', 'json'])).stdout) as Doctor).checks;
    const by = (all: Doctor['checks'], c: string) => all.find((x) => x.check === c);

    await sb.setWorld({ daemonDown: true });
    expect(by(await checks(), 'cgroup')).toMatchObject({ status: 'warn', message: expect.stringContaining('unknown') });
    await sb.setWorld({ daemonDown: false });

    // No lab: what dynamic mode would need is worth a warning.
    expect(by(await checks(), 'kind release')).toMatchObject({ status: 'warn' });
    const serve = await servedLab(sb);
    await serve.stop();
    const lab = await checks();
    expect(by(lab, 'kind release')).toMatchObject({
      status: 'ok',
      message: expect.stringContaining("this lab's static mode works with it"),
    });
    expect(by(lab, 'cgroup')).toMatchObject({ status: 'ok' });
  });
});

describe('hints and help', () => {
  test('an unknown preset suggests --file, not its older name', async (t) => {
    const sb = await sandbox(t, healthyTable());
    const r = await sb.run(['policy', 'test', 'preset:nope', '--file', 'x.log']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--file FILE');
    expect(r.stderr).not.toContain('--events');
  });

  test.each(['up', 'down', 'sink create'])('%s --help shows no "(default: false)"', async (command) => {
    const sb = await Sandbox.create(healthyTable());
    try {
      const r = ok(await sb.run([...command.split(' '), '--help']));
      expect(r.stdout).not.toContain('(default: false)');
    } finally {
      await sb.cleanup();
    }
  });

  test('render --stage without --sink says which sink it changes, and changes it', async (t) => {
    const sb = await sandbox(t, healthyTable());
    // The narrow capture, whose policy follows the sink's stages.
    const r = ok(await sb.run(['render', '--capture', 'sinks', '--stage', 'RequestReceived']));
    expect(r.stderr).toContain(
      'note: --stage applies to sink "default", as `sink create` without a NAME; --sink NAME renders another',
    );
    const policy = r.stdout.split('# ==> policy.yaml <==\n')[1]!.split('# ==>')[0]!;
    expect(policy).toContain('omitStages:\n  - ResponseStarted\n  - Panic\n');
  });
});
