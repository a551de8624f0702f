/**
 * The receiver in the background, for `up` and `tail`: a detached `audit-lab serve` whose output
 * goes to the lab's receiver.log and whose pid is in receiver.pid. The pid file holds the pid on
 * its first line (what a plain reader expects), once the receiver listens its URL on the second,
 * and on the third when that process started: a pid file outlives its process (a crash, a reboot)
 * and its pid may by now be any other program's, so nothing is signalled or reported as the
 * receiver unless the pid and its start time both match. The fourth says whether it runs in the
 * background or in someone's terminal, so a user is told how to stop it.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import { request } from 'node:https';
import { fileURLToPath } from 'node:url';
import { RuntimeFailure } from '../errors.js';
import { createFileAtomic, ensurePrivateDir, writeFileAtomic } from '../lab/fsutil.js';
import { logTail } from '../lab/logTail.js';
import type { LabPaths } from '../lab/paths.js';
import { isAlive, isSameProcess, processStartToken } from '../lab/process.js';
import { readState } from '../lab/state.js';
import { HEALTH_PATH, localAddress, receiverUrl } from '../lab/endpoints.js';
import { PKI_FILES } from '../lab/pki.js';

export interface PidFile {
  pid: number;
  url?: string;
  /** processStartToken() of the pid when the file was written. */
  started?: string;
  /**
   * Whether it runs in the background (its output only in receiver.log, as ensureReceiver starts
   * it) or in someone's terminal (`audit-lab serve`); unknown in a file written before it listens.
   */
  background?: boolean;
}

export async function readPidFile(paths: LabPaths): Promise<PidFile | null> {
  let text: string;
  try {
    text = await readFile(paths.receiverPid, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const [first = '', second = '', third = '', fourth = ''] = text.split('\n');
  const pid = Number(first.trim());
  if (!Number.isInteger(pid) || pid <= 0) return null;
  const url = second.trim();
  const started = third.trim();
  const where = fourth.trim();
  return {
    pid,
    ...(url.startsWith('https://') ? { url } : {}),
    ...(started !== '' ? { started } : {}),
    ...(where === 'background' || where === 'foreground' ? { background: where === 'background' } : {}),
  };
}

/** Records `pid` with its start time, read now: call it from that process or while it surely runs. */
export async function writePidFile(paths: LabPaths, pid: number, url?: string, background?: boolean): Promise<void> {
  await ensurePrivateDir(paths.dir);
  await writeFileAtomic(paths.receiverPid, await pidFileText(pid, url, background), 0o600);
}

/**
 * Records a receiver just started, unless it has written its own pid file already (with its URL,
 * once it listens): on a busy machine it can get there first, and replacing its file would hide
 * the URL that whoever started it waits for.
 */
export async function recordStarted(paths: LabPaths, pid: number): Promise<void> {
  await createFileAtomic(paths.receiverPid, await pidFileText(pid), 0o600);
}

async function pidFileText(pid: number, url?: string, background?: boolean): Promise<string> {
  const started = await processStartToken(pid);
  const where = background === undefined ? '' : background ? 'background' : 'foreground';
  return `${pid}\n${url ?? ''}\n${started ?? ''}\n${where}\n`;
}

/**
 * The pid file when it names this lab's receiver, still running: the pid's start time is the one
 * recorded. Null when there is no file or it is stale (its process gone, or its pid reused by
 * another program, or a file too old to say when its process started): never signal a pid the
 * file names without this.
 */
export async function runningReceiver(paths: LabPaths): Promise<PidFile | null> {
  const pidFile = await readPidFile(paths);
  if (!pidFile) return null;
  return (await isSameProcess(pidFile.pid, pidFile.started)) ? pidFile : null;
}

/** Removes the pid file if it still names this pid (a newer receiver may have replaced it). */
export async function removePidFile(paths: LabPaths, pid: number): Promise<void> {
  const cur = await readPidFile(paths).catch(() => null);
  if (cur?.pid === pid) await rm(paths.receiverPid, { force: true });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** GET /healthz, trusting only the lab CA; false on any failure. */
export async function checkHealth(url: string, caPem: string, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      `${url}${HEALTH_PATH}`,
      { method: 'GET', ca: caPem, timeout: timeoutMs, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
        res.on('error', () => resolve(false));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

async function readCa(paths: LabPaths): Promise<string | null> {
  return readFile(`${paths.pkiDir}/${PKI_FILES.caCert}`, 'utf8').catch(() => null);
}

/** Where the receiver should be: the URL it wrote to the pid file, else the one in state. */
async function expectedUrl(paths: LabPaths, pidFile: PidFile | null): Promise<string | undefined> {
  if (pidFile?.url) return pidFile.url;
  const state = await readState(paths).catch(() => null);
  if (!state || state.receiver.port === 0) return undefined;
  return receiverUrl(localAddress(state.receiver.address), state.receiver.port);
}

export interface ReceiverStatus {
  running: boolean;
  pid?: number;
  url?: string;
  healthy?: boolean;
}

export async function receiverStatus(paths: LabPaths): Promise<ReceiverStatus> {
  const pidFile = await runningReceiver(paths);
  if (!pidFile) return { running: false };
  const url = await expectedUrl(paths, pidFile);
  const ca = await readCa(paths);
  const healthy = url !== undefined && ca !== null ? await checkHealth(url, ca) : false;
  return { running: true, pid: pidFile.pid, ...(url ? { url } : {}), healthy };
}

export interface EnsureOptions {
  /** How long to wait for /healthz after starting. */
  timeoutMs?: number;
  /** Extra arguments for `serve`, e.g. ['--port', '0']. */
  serveArgs?: readonly string[];
  /** The CLI entry to run; defaults to this package's bin/audit-lab.js. */
  bin?: string;
  env?: NodeJS.ProcessEnv;
  /** Extra node options placed before the script (e.g. --cpu-prof for a benchmark). */
  nodeArgs?: readonly string[];
}

/**
 * Node flags of the background receiver. An 8 MB young generation (Node 20 picks 16 MB here)
 * keeps its peak RSS near 110 MB over a million events instead of 170 MB, at the same throughput
 * (npm run bench:receiver): a batch's short-lived objects still die young, and the old generation
 * that the larger one's promotions grew between full collections stays small. 4 MB promotes more
 * and ends higher; --optimize-for-size halves throughput.
 */
export const RECEIVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8'];

const DEFAULT_BIN = fileURLToPath(new URL('../../bin/audit-lab.js', import.meta.url));

/** The URL once /healthz answers; else null, and `seen` says how far the receiver got. */
async function waitHealthy(
  paths: LabPaths,
  pid: number,
  deadline: number,
  exited: () => boolean,
  seen: { last: string } = { last: '' },
): Promise<string | null> {
  for (;;) {
    if (exited() || !isAlive(pid)) return null;
    const pidFile = await readPidFile(paths);
    // The receiver writes its URL once it listens; before that the state's port may be stale.
    if (pidFile?.pid === pid && pidFile.url) {
      const ca = await readCa(paths);
      if (ca && (await checkHealth(pidFile.url, ca, 1000))) return pidFile.url;
      seen.last = ca ? `it listens on ${pidFile.url} but /healthz did not answer` : `the lab CA is not readable`;
    } else {
      seen.last = `it never wrote its URL to ${paths.receiverPid} (it did not get to listen)`;
    }
    if (Date.now() >= deadline) return null;
    await sleep(100);
  }
}

export interface EnsuredReceiver {
  pid: number;
  url: string;
  started: boolean;
  /** The address it listens on, when this call started it. */
  address?: string;
}

/**
 * The lab's receiver, started in the background when it is not running. Call it without holding
 * the lab lock: the receiver takes the lock itself to create or update the lab's state.
 */
/**
 * How long a new receiver has to answer /healthz: 15 s, or AUDIT_LAB_RECEIVER_START_TIMEOUT_MS (a
 * test seam: a suite on a loaded machine waits for the receiver, not for the clock).
 */
function startTimeoutMs(env: NodeJS.ProcessEnv): number {
  const ms = Number(env.AUDIT_LAB_RECEIVER_START_TIMEOUT_MS);
  return Number.isInteger(ms) && ms > 0 ? ms : 15_000;
}

/** A started receiver process, and how it ended once it has. */
interface SpawnedReceiver {
  process: ReturnType<typeof spawn>;
  exited: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** `audit-lab serve` for the lab, in the background, its output appended to the lab's receiver log. */
function spawnReceiver(paths: LabPaths, opts: EnsureOptions): SpawnedReceiver {
  const logFd = openSync(paths.receiverLog, 'a', 0o600);
  let child: ReturnType<typeof spawn>;
  try {
    // Our own CLI under the same node, argv as an array: no shell, nothing to quote.
    child = spawn(
      process.execPath,
      [
        ...RECEIVER_NODE_FLAGS,
        ...(opts.nodeArgs ?? []),
        opts.bin ?? DEFAULT_BIN,
        'serve',
        '--name',
        paths.name,
        ...(opts.serveArgs ?? []),
      ],
      {
        detached: true,
        stdio: ['ignore', logFd, logFd],
        env: { ...(opts.env ?? process.env), AUDIT_LAB_HOME: paths.home, NO_COLOR: '1' },
      },
    );
  } finally {
    closeSync(logFd);
  }
  const spawned: SpawnedReceiver = { process: child, exited: false, code: null, signal: null };
  child.on('exit', (code, signal) => {
    spawned.exited = true;
    spawned.code = code;
    spawned.signal = signal;
  });
  return spawned;
}

export async function ensureReceiver(paths: LabPaths, opts: EnsureOptions = {}): Promise<EnsuredReceiver> {
  const timeoutMs = opts.timeoutMs ?? startTimeoutMs(opts.env ?? process.env);
  const status = await receiverStatus(paths);
  if (status.running && status.pid !== undefined) {
    if (status.healthy && status.url) return { pid: status.pid, url: status.url, started: false };
    // Alive but not answering: maybe still starting; give it the same time a new one gets.
    const url = await waitHealthy(paths, status.pid, Date.now() + timeoutMs, () => false);
    if (url) return { pid: status.pid, url, started: false };
    throw new RuntimeFailure(
      `the receiver of lab ${JSON.stringify(paths.name)} (pid ${status.pid}) is running but does not answer on ${status.url ?? 'its port'}`,
      `see ${paths.receiverLog}; stop it with \`kill ${status.pid}\` (or remove ${paths.receiverPid} if that pid is not audit-lab) and try again`,
    );
  }
  await rm(paths.receiverPid, { force: true });
  await ensurePrivateDir(paths.dir);
  const logStart = await stat(paths.receiverLog).then(
    (s) => s.size,
    () => 0,
  );
  const child = spawnReceiver(paths, opts);
  const spawnError = new Promise<Error | null>((resolve) => {
    child.process.once('error', resolve);
    child.process.once('spawn', () => resolve(null));
  });
  const err = await spawnError;
  if (err || child.process.pid === undefined) {
    throw new RuntimeFailure(
      `could not start the receiver: ${err?.message ?? 'no pid'}`,
      `run \`audit-lab serve --name ${paths.name}\` to see why`,
    );
  }
  const pid = child.process.pid;
  child.process.unref();
  // Written now so a second ensureReceiver finds it; the receiver adds its URL once it listens.
  await recordStarted(paths, pid);
  const seen = { last: '' };
  const url = await waitHealthy(paths, pid, Date.now() + timeoutMs, () => child.exited, seen);
  if (url) {
    // The URL names a local address; whoever started it must also learn if it listens on every interface.
    const address = (await readState(paths).catch(() => null))?.receiver.address;
    return { pid, url, started: true, ...(address !== undefined ? { address } : {}) };
  }
  // Reaped already but its 'exit' event not yet handled: wait for it, so the message says it exited.
  if (!child.exited && !isAlive(pid)) await Promise.race([once(child.process, 'exit'), sleep(1000)]);
  // Stopped here for not answering: said as such, whatever its exit event says by then.
  const stoppedHere = !child.exited && isAlive(pid);
  if (stoppedHere) process.kill(pid, 'SIGKILL');
  await removePidFile(paths, pid);
  const tail = await logTail(paths.receiverLog, logStart);
  throw new RuntimeFailure(
    child.exited && !stoppedHere
      ? `the receiver ${child.signal !== null ? `was stopped by ${child.signal}` : `exited (code ${String(child.code)})`} before it answered${tail ? `:\n${tail.replace(/^/gm, '  ')}` : ''}`
      : `the receiver did not answer within ${timeoutMs} ms${seen.last ? ` (${seen.last})` : ''}${tail ? `:\n${tail.replace(/^/gm, '  ')}` : ''}`,
    `full log: ${paths.receiverLog}; run \`audit-lab serve --name ${paths.name}\` in the foreground to see it live`,
  );
}

/** Stops the background receiver: SIGTERM (it finishes in-flight batches), SIGKILL after timeoutMs. False when none was running. */
export async function stopReceiver(paths: LabPaths, opts: { timeoutMs?: number } = {}): Promise<boolean> {
  const pidFile = await runningReceiver(paths);
  if (!pidFile) {
    // Stale (or none): whatever process has that pid now is not ours to stop.
    await rm(paths.receiverPid, { force: true });
    return false;
  }
  const { pid, started } = pidFile;
  const ours = () => isSameProcess(pid, started);
  const deadline = Date.now() + (opts.timeoutMs ?? 35_000);
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    // Gone between the check and the signal.
  }
  while ((await ours()) && Date.now() < deadline) await sleep(50);
  // Asked again right before SIGKILL: in 35 s the receiver may have exited and its pid been reused.
  if (await ours()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Exited just now.
    }
    const killDeadline = Date.now() + 5000;
    while (isAlive(pid) && Date.now() < killDeadline) await sleep(50);
  }
  await removePidFile(paths, pid);
  return true;
}
