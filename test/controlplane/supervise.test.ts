/**
 * One supervised process of the binary provider, with fake binaries: bash scripts this test writes,
 * run as real processes. A fake that keeps running execs `sleep` under its own path as argv[0], so
 * every process a test leaves behind is found by its command line (it holds the test's directory)
 * and killed after each test, whatever the test did.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  argvDigest,
  findRunning,
  type ProcessFiles,
  type StartSpec,
  startProcess,
  stopProcess,
} from '../../src/controlplane/supervise.js';
import { RuntimeFailure } from '../../src/errors.js';
import { isAlive, processStartToken } from '../../src/lab/process.js';
import { eventually } from '../harness/wait.js';

const HINT = 'run `audit-lab up` again';
const LONG = 120_000;

/** Writes its pid and working directory to the file named by $1 once it has written its output. */
const SERVE = `
echo "serving with $*"
echo "note=$FAKE_NOTE"
printf '%s\\n%s\\n' "$$" "$PWD" > "$1.tmp" && mv "$1.tmp" "$1"
exec -a "$0" sleep 100000
`;

const FAKES: Record<string, string> = {
  serve: SERVE,
  stubborn: `trap '' TERM\n${SERVE}`,
  // A child in its process group, whose pid goes to $2: stopping the fake stops it too.
  forks: `(exec -a "$0" sleep 100000) &\necho $! > "$2"\n${SERVE}`,
  fails: `for i in $(seq 1 30); do echo "out $i end"; done\necho "fatal: bad flag $1" >&2\nexit 3\n`,
  crashes: `echo "about to crash"\nkill -KILL $$\n`,
};

let dir: string;
let files: ProcessFiles;
const children: ChildProcess[] = [];

/** The processes whose command line holds the test's directory: the fakes still running. */
async function fakesRunning(): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(dir)) found.push(Number(name));
  }
  return found;
}

beforeEach(async () => {
  dir = await realpath(await mkdtemp(join(tmpdir(), 'audit-lab-supervise-')));
  files = { pid: join(dir, 'fake.pid'), log: join(dir, 'fake.log') };
  for (const [name, body] of Object.entries(FAKES)) {
    await writeFile(join(dir, name), `#!/bin/bash\n${body}`, { mode: 0o755 });
  }
});

afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const pid of await fakesRunning()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  expect(await eventually(async () => (await fakesRunning()).length === 0)).toBe(true);
  await rm(dir, { recursive: true, force: true });
});

function spec(fake: string, args: string[], over: Partial<StartSpec> = {}): StartSpec {
  return {
    name: 'fake',
    argv: [join(dir, fake), ...args],
    files,
    ready: async () => existsSync(join(dir, 'ready')),
    timeoutMs: LONG,
    hint: HINT,
    ...over,
  };
}

/** The rejection of a start, which must be a RuntimeFailure. */
async function startFailure(s: StartSpec): Promise<RuntimeFailure> {
  const err = await startProcess(s).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RuntimeFailure);
  return err as RuntimeFailure;
}

/** A `sleep` of the test's own, not started by the code under test. */
async function ownSleep(): Promise<ChildProcess & { pid: number }> {
  const child = spawn('sleep', ['100000'], { stdio: 'ignore' });
  children.push(child);
  await new Promise((r) => child.once('spawn', r));
  return child as ChildProcess & { pid: number };
}

const marker = () => join(dir, 'ready');
const markerPid = async () => Number((await readFile(marker(), 'utf8')).split('\n')[0]);

describe('a supervised process', () => {
  it('starts, is waited for until ready, is recorded with its start time and argv, and is found', async () => {
    let probes = 0;
    const waits: number[] = [];
    const s = spec('serve', [marker(), '--flag=1'], {
      env: { ...process.env, FAKE_NOTE: 'hello' },
      // Not ready for the first two probes whatever the fake did: the wait goes on between them.
      ready: async () => ++probes > 2 && existsSync(marker()),
      pollMs: 10,
      onWait: (ms) => waits.push(ms),
    });
    const started = await startProcess(s);

    const [pid, cwd] = (await readFile(marker(), 'utf8')).split('\n');
    expect(started.pid).toBe(Number(pid));
    expect(cwd).toBe(dir);
    expect(probes).toBeGreaterThan(2);
    expect(waits.length).toBeGreaterThanOrEqual(2);
    const token = await processStartToken(started.pid);
    expect(token).not.toBeNull();
    expect(started).toEqual({ pid: started.pid, started: token, argv: argvDigest(s.argv) });
    expect((await readFile(files.pid, 'utf8')).split('\n')).toEqual([pid, token, argvDigest(s.argv), '']);
    expect((await stat(files.pid)).mode & 0o777).toBe(0o600);
    expect((await stat(files.log)).mode & 0o777).toBe(0o600);
    expect(await readFile(files.log, 'utf8')).toContain(`serving with ${marker()} --flag=1\nnote=hello\n`);
    expect(await findRunning(files)).toEqual(started);

    // A changed flag changes the digest; arguments are not merely concatenated.
    expect(argvDigest([s.argv[0]!, marker(), '--flag=2'])).not.toBe(started.argv);
    expect(argvDigest([...s.argv])).toBe(started.argv);
    expect(argvDigest(['a b'])).not.toBe(argvDigest(['a', 'b']));
    expect(argvDigest(['ab'])).not.toBe(argvDigest(['a', 'b']));

    expect(await stopProcess(files, { name: 'fake', termMs: LONG })).toBe('stopped');
    expect(isAlive(started.pid)).toBe(false);
    expect(existsSync(files.pid)).toBe(false);
    expect(await fakesRunning()).toEqual([]);
    expect(await findRunning(files)).toBeNull();
  });

  it('says a binary that does not exist is not found, and leaves no pid file, not even a stale one', async () => {
    // Names pid 1 with a start time it does not have: stale.
    await writeFile(files.pid, `1\nproc:1\n${argvDigest(['x'])}\n`);
    const err = await startFailure(spec('nope', []));
    expect(err.message).toBe(`fake: ${join(dir, 'nope')} not found (or not executable)`);
    expect(err.hint).toContain(HINT);
    expect(existsSync(files.pid)).toBe(false);
  });

  it('says the same of a file that is not executable', async () => {
    await chmod(join(dir, 'serve'), 0o644);
    const err = await startFailure(spec('serve', [marker()]));
    expect(err.message).toBe(`fake: ${join(dir, 'serve')} not found (or not executable)`);
    expect(err.hint).toContain(HINT);
    expect(existsSync(files.pid)).toBe(false);
    expect(existsSync(marker())).toBe(false);
  });

  it('reports a process that exits at start with its code and the end of what it logged in this start', async () => {
    await writeFile(files.log, 'a line from an earlier run\n');
    const err = await startFailure(spec('fails', ['--bogus']));
    expect(err.message).toMatch(/^fake exited \(code 3\) before it was ready:\n {2}out 17 end\n/);
    expect(err.message).toContain('\n  out 30 end\n  fatal: bad flag --bogus');
    expect(err.message).not.toContain('out 16 end');
    expect(err.message).not.toContain('earlier run');
    expect(err.hint).toBe(`${HINT} (full log: ${files.log})`);
    expect(existsSync(files.pid)).toBe(false);
  });

  it('reports a process killed by a signal at start', async () => {
    await writeFile(files.log, 'a line from an earlier run\n');
    const err = await startFailure(spec('crashes', []));
    expect(err.message).toBe('fake exited (signal SIGKILL) before it was ready:\n  about to crash');
    expect(existsSync(files.pid)).toBe(false);
  });

  it('stops a process that is never ready in time, and quotes its log', async () => {
    // Once the fake has written its output (and its pid), never ready: the short timeout is the point.
    const ready = async () => (await eventually(() => existsSync(marker()))) && false;
    const err = await startFailure(spec('serve', [marker()], { ready, timeoutMs: 200, termMs: LONG }));
    expect(err.message).toMatch(/^fake was not ready within 0\.2 s; stopped it:\n/);
    expect(err.message).toContain(`  serving with ${marker()}\n  note=`);
    expect(err.hint).toBe(`${HINT} (full log: ${files.log})`);
    expect(isAlive(await markerPid())).toBe(false);
    expect(existsSync(files.pid)).toBe(false);
    expect(await fakesRunning()).toEqual([]);
  });

  it('takes a pid file whose process is gone for stale, and starts over it', async () => {
    const gone = await ownSleep();
    const token = await processStartToken(gone.pid);
    gone.kill('SIGKILL');
    await new Promise((r) => gone.once('exit', r));
    await writeFile(files.pid, `${gone.pid}\n${token}\n${argvDigest(['x'])}\n`);
    expect(await findRunning(files)).toBeNull();

    const started = await startProcess(spec('serve', [marker()]));
    expect(started.pid).not.toBe(gone.pid);
    expect((await findRunning(files))?.pid).toBe(started.pid);
    expect(await stopProcess(files, { name: 'fake', termMs: LONG })).toBe('stopped');

    await writeFile(files.pid, `${gone.pid}\n${token}\n${argvDigest(['x'])}\n`);
    expect(await stopProcess(files, { name: 'fake', termMs: LONG })).toBe('not running');
    expect(existsSync(files.pid)).toBe(false);
  });

  it('never signals a live process whose pid a stale file names: another start time, or none', async () => {
    const other = await ownSleep();
    for (const started of ['proc:1', '']) {
      await writeFile(files.pid, `${other.pid}\n${started}\n${argvDigest(['x'])}\n`);
      expect(await findRunning(files)).toBeNull();
      expect(await stopProcess(files, { name: 'fake', termMs: LONG })).toBe('not running');
      expect(existsSync(files.pid)).toBe(false);
      expect(isAlive(other.pid)).toBe(true);
      expect(other.exitCode).toBeNull();
      expect(other.signalCode).toBeNull();
    }
  });

  it('stops the process group it started, not the leader alone', async () => {
    const childFile = join(dir, 'child');
    const started = await startProcess(spec('forks', [marker(), childFile]));
    const child = Number(await readFile(childFile, 'utf8'));
    expect(isAlive(child)).toBe(true);
    expect(await stopProcess(files, { name: 'fake', termMs: LONG })).toBe('stopped');
    expect(isAlive(started.pid)).toBe(false);
    // The child is not ours to reap: it goes once init has reaped it.
    expect(await eventually(async () => (await fakesRunning()).length === 0)).toBe(true);
  });

  it('kills a process that ignores SIGTERM once termMs is up', async () => {
    const started = await startProcess(spec('stubborn', [marker()]));
    expect(await stopProcess(files, { name: 'fake', termMs: 300 })).toBe('killed');
    expect(isAlive(started.pid)).toBe(false);
    expect(existsSync(files.pid)).toBe(false);
    expect(await fakesRunning()).toEqual([]);
  });

  it('refuses to start a second one while the first runs', async () => {
    const first = await startProcess(spec('serve', [marker()]));
    const err = await startFailure(spec('serve', [marker(), '--other']));
    expect(err.message).toBe(`fake is already running (pid ${first.pid}, recorded in ${files.pid})`);
    expect(await findRunning(files)).toEqual(first);
    expect(await stopProcess(files, { name: 'fake', termMs: LONG })).toBe('stopped');
  });
});
