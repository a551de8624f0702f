import { spawn } from 'node:child_process';
import { existsSync, watch } from 'node:fs';
import { lstat, readdir, readFile, rename, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RuntimeFailure, UserError } from '../../src/errors.js';
import { withLabLock } from '../../src/lab/lock.js';
import { labPaths, validateLabName } from '../../src/lab/paths.js';
import {
  DEFAULT_SINK,
  firstReceiverPort,
  newLabState,
  newSinkState,
  readState,
  writeState,
} from '../../src/lab/state.js';
import { ROOT, runProcess } from '../harness/cli.js';
import { fakeToolsEnv, testDir } from '../harness/lab.js';
import { GUARD_MS } from '../harness/wait.js';

async function lab() {
  return labPaths(join(await testDir(), 'home'), 'audit-lab');
}

const state = () => {
  const s = newLabState({ name: 'audit-lab', mode: 'static', image: null, kubernetesVersion: null });
  s.sinks.push(newSinkState(DEFAULT_SINK));
  return s;
};

describe('lab state', () => {
  it('round-trips, private: home and lab 0700, state 0600, no temp files left', async () => {
    const paths = await lab();
    const s = state();
    await writeState(paths, s);
    expect(await readState(paths)).toEqual(s);
    expect((await stat(paths.home)).mode & 0o777).toBe(0o700);
    expect((await stat(paths.dir)).mode & 0o777).toBe(0o700);
    expect((await stat(paths.state)).mode & 0o777).toBe(0o600);
    expect(await readdir(paths.dir)).toEqual(['state.json']);
    expect(JSON.parse(await readFile(paths.state, 'utf8')).version).toBe(1);
  });

  it('is null for a lab that does not exist, and creates nothing', async () => {
    const paths = await lab();
    expect(await readState(paths)).toBeNull();
    await expect(stat(paths.home)).rejects.toThrow(/ENOENT/);
  });

  it.each([
    ['not JSON', '{"version": 1,', /not JSON/],
    ['a list', '[]', /not a JSON object/],
    ['a newer version', JSON.stringify({ version: 99 }), /newer audit-lab/],
    [
      'a bad sink level',
      JSON.stringify({ ...state(), sinks: [{ ...state().sinks[0], level: 'Loud' }] }),
      /sinks\[0\] \(spec\.policy\.level\)/,
    ],
    [
      'a duplicate sink',
      JSON.stringify({ ...state(), sinks: [state().sinks[0], state().sinks[0]] }),
      /a second sink named "default"/,
    ],
    ['a missing token', JSON.stringify({ ...state(), sinks: [{ ...state().sinks[0], token: '' }] }), /token/],
  ])('refuses %s with a usage error and leaves the file as it was', async (_, text, message) => {
    const paths = await lab();
    await writeState(paths, state());
    await writeFile(paths.state, text);
    const err = await readState(paths).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain(paths.state);
    expect(await readFile(paths.state, 'utf8')).toBe(text);
  });

  it.each([
    [
      'receiver.port',
      (s: any) => (s.receiver.port = -1),
      '"receiver.port" must be a whole number from 0 to 65535, not -1',
    ],
    ['receiver.address', (s: any) => (s.receiver.address = 'localhost'), '"receiver.address" must be an IP address'],
    ['receiver.host', (s: any) => (s.receiver.host = 'a b'), '"receiver.host" must be a host name'],
    [
      'streams.maxBackups',
      (s: any) => (s.streams = { maxBytes: 10, maxBackups: 1.5 }),
      '"streams.maxBackups" must be a whole number, 1 or more, not 1.5',
    ],
    [
      'webhook.batchMaxWait',
      (s: any) => (s.webhook.batchMaxWait = '0s'),
      '"webhook.batchMaxWait" must be a positive Go duration',
    ],
    [
      'webhook.throttle.qps',
      (s: any) => (s.webhook.throttle.qps = '10'),
      '"webhook.throttle.qps" must be a number greater than 0',
    ],
    [
      'sinks[0].throttle.burst',
      (s: any) => (s.sinks[0].throttle.burst = null),
      '"sinks[0].throttle.burst" must be a number greater than 0',
    ],
    ['image', (s: any) => (s.image = 7), '"image" must be a node image or null'],
    ['name', (s: any) => (s.name = '../x'), '"name" must be a lab name'],
    ['updatedAt', (s: any) => delete s.updatedAt, '"updatedAt" must be a time'],
  ])(
    'names the field %s when loading, and writeState refuses the same value, leaving the file',
    async (_, edit, message) => {
      const paths = await lab();
      await writeState(paths, state());
      const good = await readFile(paths.state, 'utf8');
      const bad = JSON.parse(good);
      edit(bad);
      const err = await writeState(paths, bad).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UserError);
      expect((err as Error).message).toContain(`not saving lab state ${paths.state}: ${message}`);
      expect(await readFile(paths.state, 'utf8')).toBe(good);
      await writeFile(paths.state, JSON.stringify(bad));
      const loadErr = await readState(paths).catch((e: unknown) => e);
      expect(loadErr).toBeInstanceOf(UserError);
      expect((loadErr as Error).message).toContain(`lab state ${paths.state} is not valid: ${message}`);
    },
  );

  it('rejects lab names that could leave the lab home or that kind refuses', () => {
    for (const bad of ['../x', 'a/b', 'Audit', '-x', 'x-', '', 'a'.repeat(41), 'a_b']) {
      expect(() => validateLabName(bad), bad).toThrow(UserError);
    }
    expect(validateLabName('lab-2')).toBe('lab-2');
  });
});

/** A lock holder's body, and a promise that it has started: the lock is held from then on. */
function holder<T>(run: () => Promise<T>): { entered: Promise<void>; body: () => Promise<T> } {
  let enter!: () => void;
  const entered = new Promise<void>((r) => (enter = r));
  return {
    entered,
    body: () => {
      enter();
      return run();
    },
  };
}

/**
 * Resolves when an attempt to take a lock in `dir` has ended: each attempt links a temp file it
 * made (`<lock>.<pid>.<random>.tmp`) to the lock's name and then removes it, taken or not. There
 * is no other sign of a waiter that found the lock taken.
 */
function attemptEnded(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const watcher = watch(dir, (_, name) => {
      if (name?.endsWith('.tmp') && !existsSync(join(dir, name))) {
        watcher.close();
        resolve();
      }
    });
    watcher.on('error', reject);
  });
}

describe('a state.json that is a symbolic link', () => {
  /** A lab whose state.json links to a valid state kept elsewhere; returns both and the target's text. */
  async function linkedState() {
    const paths = await lab();
    await writeState(paths, state());
    const target = join(paths.home, 'elsewhere.json');
    await rename(paths.state, target);
    await symlink(target, paths.state);
    return { paths, target, text: await readFile(target, 'utf8') };
  }

  async function expectLinkKept(l: Awaited<ReturnType<typeof linkedState>>) {
    expect((await lstat(l.paths.state)).isSymbolicLink()).toBe(true);
    expect(await readFile(l.target, 'utf8')).toBe(l.text);
  }

  it('readState refuses it, naming it, and does not read through it', async () => {
    const l = await linkedState();
    const err = await readState(l.paths).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toContain(`${l.paths.state} is a symbolic link`);
    await expectLinkKept(l);
  });

  it('writeState refuses to replace it', async () => {
    const l = await linkedState();
    const err = await writeState(l.paths, state()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toContain(`${l.paths.state} is a symbolic link`);
    await expectLinkKept(l);
  });

  it.each([
    ['sink create', ['sink', 'create', 'extra']],
    ['tail --no-follow', ['tail', '--no-follow']],
  ])('%s (as a process): exit 2 naming it, the link and its target as they were', async (_, argv) => {
    const l = await linkedState();
    const table = join(l.paths.home, 'tools.json');
    const tools = await fakeToolsEnv(table, { kind: [{ args: ['get', 'clusters'], stdout: '' }] });
    const env = { AUDIT_LAB_HOME: l.paths.home, AUDIT_LAB_NO_RECEIVER: '1', ...tools };
    const r = await runProcess(argv, { env, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`${l.paths.state} is a symbolic link`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    await expectLinkKept(l);
  });
});

describe('lab lock', () => {
  it('lets one command in at a time; the second waits, then names the holder', async () => {
    const paths = await lab();
    let release!: () => void;
    const { entered, body } = holder(() => new Promise<void>((r) => (release = r)));
    const held = withLabLock(paths, 'sink create', body);
    await entered;
    const err = await withLabLock(paths, 'up', async () => 'got in', { timeoutMs: 100 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeFailure);
    expect((err as Error).message).toContain(`pid ${process.pid}`);
    expect((err as Error).message).toContain('audit-lab sink create');
    release();
    await held;
    expect(await withLabLock(paths, 'up', async () => 'got in')).toBe('got in');
  });

  it('waits briefly and gets the lock when the holder finishes', async () => {
    const paths = await lab();
    const order: string[] = [];
    let release!: () => void;
    const { entered, body } = holder(async () => {
      order.push('a-start');
      await new Promise<void>((r) => (release = r));
      order.push('a-end');
    });
    const first = withLabLock(paths, 'a', body);
    await entered;
    const tried = attemptEnded(paths.dir);
    const second = withLabLock(paths, 'b', async () => order.push('b'), { timeoutMs: GUARD_MS });
    // b found the lock taken at least once before a lets go: it got in by waiting.
    await tried;
    expect(order).toEqual(['a-start']);
    release();
    await second;
    await first;
    expect(order).toEqual(['a-start', 'a-end', 'b']);
  });

  it('holds across processes, and takes over from a holder that died', async () => {
    const paths = await lab();
    const script = `
      import { withLabLock } from ${JSON.stringify(join(ROOT, 'dist/lab/lock.js'))};
      import { labPaths } from ${JSON.stringify(join(ROOT, 'dist/lab/paths.js'))};
      await withLabLock(labPaths(${JSON.stringify(paths.home)}, 'audit-lab'), 'up', async () => {
        process.stdout.write('locked\\n');
        await new Promise(() => setInterval(() => {}, 1000));
      });`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    const busy = await withLabLock(paths, 'down', async () => 'in', { timeoutMs: 100 }).catch((e: unknown) => e);
    expect((busy as Error).message).toContain(`pid ${child.pid}`);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(await withLabLock(paths, 'down', async () => 'in', { timeoutMs: GUARD_MS })).toBe('in');
  });
});

describe("a new lab's receiver port", () => {
  it("is looked for from 8845, or from AUDIT_LAB_FIRST_PORT (the tests' own range) when that is a port", () => {
    expect(firstReceiverPort({})).toBe(8845);
    expect(firstReceiverPort({ AUDIT_LAB_FIRST_PORT: '23400' })).toBe(23400);
    for (const junk of ['', 'x', '80', '70000', '2.5'])
      expect(firstReceiverPort({ AUDIT_LAB_FIRST_PORT: junk })).toBe(8845);
  });
});
