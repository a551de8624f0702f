/**
 * One process of the binary provider's control plane (etcd, kube-apiserver, ...), supervised as the
 * lab's receiver is: started detached with its output appended to its log, found and stopped by its
 * pid file. The pid file holds the pid, the process's start time (processStartToken) and a digest
 * of the argv it was started with: a pid file outlives its process (a crash, a reboot) and its pid
 * may by now be any other program's, so nothing is signalled or reported as running unless the pid
 * and its start time both match. What a process is and when it is ready is the caller's: this file
 * knows no Kubernetes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, fchmodSync, openSync } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { RuntimeFailure } from '../errors.js';
import { ensurePrivateDir, writeFileAtomic } from '../lab/fsutil.js';
import { logTail } from '../lab/logTail.js';
import { isAlive, isSameProcess, processStartToken } from '../lab/process.js';

export interface ProcessFiles {
  /** Absolute paths in the lab dir. */
  pid: string;
  log: string;
}

export interface Supervised {
  pid: number;
  /** processStartToken() of the pid when the file was written; null when it could not be told. */
  started: string | null;
  /** argvDigest() of the argv it was started with. */
  argv: string | null;
}

export interface StartSpec {
  /** As messages name it: 'kube-apiserver'. */
  name: string;
  /**
   * [absolute binary, ...args]: spawned with no shell, detached (its own process group), its
   * stdout and stderr appended to files.log (0600), in the directory of files.pid.
   */
  argv: readonly string[];
  files: ProcessFiles;
  env?: NodeJS.ProcessEnv;
  /**
   * Probe of readiness, called repeatedly until true (a health URL, say). A probe that throws
   * counts as not ready. The deadline is checked between probes: a probe bounds its own time (a
   * request timeout); one still pending when the process exits is not waited for.
   */
  ready: () => Promise<boolean>;
  /** How long to wait for ready before giving up (the caller passes a default; tests a long one). */
  timeoutMs: number;
  /** Pause between probes; default 100. */
  pollMs?: number;
  /** How long a process that was not ready in time has after SIGTERM before SIGKILL; default 10 s. */
  termMs?: number;
  /** What to tell the user to do when it fails, e.g. 'run `audit-lab up` again, or `audit-lab down` ...'. */
  hint: string;
  /** Called between probes with the time waited so far (for a spinner). */
  onWait?: (elapsedMs: number) => void;
}

/** How long a process has to go after SIGKILL before stopping it is reported as failed. */
const KILL_WAIT_MS = 5_000;

/** How long to wait for the exit event of a child seen dead (reaped, its event not yet handled). */
const EXIT_EVENT_WAIT_MS = 5_000;

/** sha256 (hex) of the argv joined with NUL (which no argument can hold): a changed flag changes it. */
export function argvDigest(argv: readonly string[]): string {
  return createHash('sha256').update(argv.join('\0')).digest('hex');
}

async function readPidFile(files: ProcessFiles): Promise<Supervised | null> {
  let text: string;
  try {
    text = await readFile(files.pid, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const [first = '', second = '', third = ''] = text.split('\n');
  const pid = Number(first.trim());
  if (!/^\d+$/.test(first.trim()) || !Number.isSafeInteger(pid) || pid <= 0) return null;
  return { pid, started: second.trim() || null, argv: third.trim() || null };
}

/**
 * The process the pid file names, when it still runs: its pid is alive and started when the file
 * says. Null when there is no file, or it is stale (its process gone, its pid reused by another
 * program, no start time recorded); a stale file is left as it is and its pid never signalled.
 */
export async function findRunning(files: ProcessFiles): Promise<Supervised | null> {
  const recorded = await readPidFile(files);
  if (!recorded || recorded.started === null) return null;
  return (await isSameProcess(recorded.pid, recorded.started)) ? recorded : null;
}

/** Removes the pid file if it still names this pid (another start may have replaced it). */
async function removePidFile(files: ProcessFiles, pid: number): Promise<void> {
  const cur = await readPidFile(files).catch(() => null);
  if (cur === null || cur.pid === pid) await rm(files.pid, { force: true });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `ms` as the seconds a message says: 120 s, 0.3 s. */
const seconds = (ms: number) => `${Number((ms / 1000).toFixed(1))} s`;

const indented = (tail: string) => (tail ? `:\n${tail.replace(/^/gm, '  ')}` : ' (nothing in its log)');

/** A spawned child and, once it has exited, how. */
interface Spawned {
  child: ChildProcess;
  pid: number;
  exited: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Resolves on the child's exit event. */
  exit: Promise<void>;
}

/** Spawns spec.argv detached, its output appended to the log; throws when it cannot be started. */
async function spawnLogged(spec: StartSpec): Promise<Spawned> {
  const [bin, ...args] = spec.argv;
  if (bin === undefined) throw new RuntimeFailure(`${spec.name}: no command to run`, spec.hint);
  const logFd = openSync(spec.files.log, 'a', 0o600);
  let child: ChildProcess;
  try {
    fchmodSync(logFd, 0o600);
    child = spawn(bin, args, {
      cwd: dirname(spec.files.pid),
      detached: true,
      stdio: ['ignore', logFd, logFd],
      env: spec.env ?? process.env,
    });
  } finally {
    closeSync(logFd);
  }
  const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
    child.once('error', resolve);
    child.once('spawn', () => resolve(null));
  });
  if (err || child.pid === undefined) {
    const missing = err?.code === 'ENOENT' || err?.code === 'EACCES';
    throw new RuntimeFailure(
      missing
        ? `${spec.name}: ${bin} not found (or not executable)`
        : `${spec.name}: could not start ${bin}: ${err?.message ?? 'no pid'}`,
      spec.hint,
    );
  }
  const spawned: Spawned = { child, pid: child.pid, exited: false, code: null, signal: null, exit: Promise.resolve() };
  spawned.exit = new Promise((resolve) => {
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      Object.assign(spawned, { exited: true, code, signal });
      resolve();
    };
    if (child.exitCode !== null || child.signalCode !== null) onExit(child.exitCode, child.signalCode);
    else child.once('exit', onExit);
  });
  child.unref();
  return spawned;
}

/** Resolves after `ms`, or as soon as `early` does; its timer does not outlive it. */
function pause(ms: number, early: Promise<unknown>): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void early.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Probes until ready, the process exits, or the time is up. */
async function waitReady(spec: StartSpec, run: Spawned): Promise<'ready' | 'exited' | 'timeout'> {
  const pollMs = spec.pollMs ?? 100;
  const t0 = Date.now();
  for (;;) {
    const probe = Promise.resolve()
      .then(spec.ready)
      .then(
        (ok) => ok === true,
        () => false,
      );
    const ready = await Promise.race([probe, run.exit.then(() => false)]);
    if (run.exited) return 'exited';
    if (ready) {
      // Something answered, but maybe not this process (another one on its port).
      if (isAlive(run.pid)) return 'ready';
      await pause(EXIT_EVENT_WAIT_MS, run.exit);
      return 'exited';
    }
    const elapsed = Date.now() - t0;
    if (elapsed >= spec.timeoutMs) return 'timeout';
    spec.onWait?.(elapsed);
    await pause(Math.min(pollMs, spec.timeoutMs - elapsed), run.exit);
  }
}

/** Signals the process group the pid leads (it was started detached), or the pid alone when it leads none. */
function signal(name: string, pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
    return;
  } catch {
    // No such group (it left it): the process itself.
  }
  try {
    process.kill(pid, sig);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') return; // Gone between the check and the signal.
    throw new RuntimeFailure(
      `could not send ${sig} to ${name} (pid ${pid}): ${code ?? String(err)}`,
      `stop pid ${pid} yourself (\`kill ${pid}\`) and try again`,
    );
  }
}

/** SIGTERM, up to termMs for it to go, then SIGKILL; signals nothing once the pid is not that process. */
async function terminate(
  name: string,
  pid: number,
  started: string,
  termMs: number,
): Promise<'stopped' | 'killed' | 'not running'> {
  const ours = () => isSameProcess(pid, started);
  if (!(await ours())) return 'not running';
  signal(name, pid, 'SIGTERM');
  const termDeadline = Date.now() + termMs;
  while ((await ours()) && Date.now() < termDeadline) await sleep(Math.min(50, termMs));
  // Asked again right before SIGKILL: it may have exited meanwhile and its pid been reused.
  if (!(await ours())) return 'stopped';
  signal(name, pid, 'SIGKILL');
  const killDeadline = Date.now() + KILL_WAIT_MS;
  while ((await ours()) && Date.now() < killDeadline) await sleep(50);
  if (await ours()) {
    throw new RuntimeFailure(
      `${name} (pid ${pid}) is still running ${seconds(KILL_WAIT_MS)} after SIGKILL`,
      `it may be stuck in the kernel (a hung disk or mount): see \`ps -o stat,wchan -p ${pid}\``,
    );
  }
  return 'killed';
}

/** The pid file for a process just spawned: pid, start time, argv digest. */
async function recordStarted(spec: StartSpec, run: Spawned): Promise<string | null> {
  const started = await processStartToken(run.pid);
  if (started === null && isAlive(run.pid)) {
    throw new RuntimeFailure(
      `${spec.name}: cannot tell when pid ${run.pid} started, so it could not be stopped safely later; stopped it`,
      'on Linux /proc must be mounted; elsewhere /bin/ps must answer `ps -o lstart= -p PID`',
    );
  }
  await writeFileAtomic(spec.files.pid, `${run.pid}\n${started ?? ''}\n${argvDigest(spec.argv)}\n`, 0o600);
  return started;
}

/**
 * Starts spec.argv in the background and waits until spec.ready() says it is ready. Refuses when
 * the pid file names one still running (the caller stops it first); a stale pid file is replaced.
 * When it exits first, or is not ready in time (then it is stopped), the error quotes the end of
 * what it logged since this start, and no pid file is left.
 */
export async function startProcess(spec: StartSpec): Promise<Supervised> {
  const running = await findRunning(spec.files);
  if (running) {
    throw new RuntimeFailure(
      `${spec.name} is already running (pid ${running.pid}, recorded in ${spec.files.pid})`,
      spec.hint,
    );
  }
  await ensurePrivateDir(dirname(spec.files.pid));
  await ensurePrivateDir(dirname(spec.files.log));
  await rm(spec.files.pid, { force: true });
  const logStart = await stat(spec.files.log).then(
    (s) => s.size,
    () => 0,
  );
  const run = await spawnLogged(spec);
  let started: string | null;
  try {
    started = await recordStarted(spec, run);
  } catch (err) {
    // Our child, not yet reaped while it has not exited: its pid is still its own.
    if (!run.exited) run.child.kill('SIGKILL');
    throw err;
  }
  const outcome = await waitReady(spec, run);
  if (outcome === 'ready') return { pid: run.pid, started, argv: argvDigest(spec.argv) };
  if (outcome === 'timeout' && started !== null) await terminate(spec.name, run.pid, started, spec.termMs ?? 10_000);
  await removePidFile(spec.files, run.pid);
  const tail = await logTail(spec.files.log, logStart);
  const how = run.signal !== null ? `signal ${run.signal}` : `code ${String(run.code)}`;
  throw new RuntimeFailure(
    outcome === 'timeout'
      ? `${spec.name} was not ready within ${seconds(spec.timeoutMs)}; stopped it${indented(tail)}`
      : `${spec.name} exited (${how}) before it was ready${indented(tail)}`,
    `${spec.hint} (full log: ${spec.files.log})`,
  );
}

/**
 * Stops the process the pid file names: SIGTERM, up to termMs for it to go, then SIGKILL, and the
 * pid file removed. Only a process findRunning names is signalled: a stale pid file is removed and
 * 'not running' returned, whatever process has that pid now.
 */
export async function stopProcess(
  files: ProcessFiles,
  o: { name: string; termMs: number },
): Promise<'stopped' | 'killed' | 'not running'> {
  const running = await findRunning(files);
  if (!running || running.started === null) {
    await rm(files.pid, { force: true });
    return 'not running';
  }
  const how = await terminate(o.name, running.pid, running.started, o.termMs);
  await removePidFile(files, running.pid);
  // Found running a moment ago: gone before the signal is still a stop.
  return how === 'not running' ? 'stopped' : how;
}
