/**
 * The receiver process's main, what `audit-lab serve` runs and what ensureReceiver starts in the
 * background: the lab's state and PKI made or repaired under the lab lock, the server listening,
 * the pid file naming it, its log, and a clean stop on SIGINT/SIGTERM. The lab lock is held only
 * while state is created or changed, never while serving, so `sink create` works meanwhile.
 * Loads the server: daemon.ts and control.ts never import this module.
 */
import { fstatSync } from 'node:fs';
import { rmdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { RuntimeFailure, UserError } from '../errors.js';
import type { OutStream } from '../io.js';
import { everyInterfaceWarning, STATIC_PATH } from '../lab/endpoints.js';
import { describeReissue, ensureLab, type LabHandle } from '../lab/lab.js';
import { withLabLock } from '../lab/lock.js';
import type { LabPaths } from '../lab/paths.js';
import { isRealDir, removeTree } from '../lab/safety.js';
import { type Capture, DEFAULT_RECEIVER_ADDRESS, readState, writeState } from '../lab/state.js';
import { RotatingLog } from '../receiver/log.js';
import { type RunningReceiver, startLabReceiver } from '../receiver/start.js';
import { DEFAULT_STREAM_OPTIONS, SKIP_SYNC } from '../receiver/store/options.js';
import type { Output } from '../ui/output.js';
import { removePidFile, runningReceiver, writePidFile } from './daemon.js';
import { reportForwarding } from './forwarding.js';

/** Where the receiver reports: the printer, and the stream under it (to tell whether it is the log file). */
export interface ServeOutput {
  out: Pick<Output, 'line' | 'info' | 'warn'>;
  stderr: OutStream;
}

/** What a run may change in the lab, flags already checked; undefined keeps the lab's. */
export interface ServeSettings {
  /** Listen address, without brackets. */
  address?: string;
  port?: number;
  /** Rotate a sink's stream at this size (bytes); saved in the lab state. */
  maxStreamBytes?: number;
  /** Rotated files kept per sink; saved in the lab state. */
  maxStreamFiles?: number;
  /** What the lab's API server captures (static mode); saved in the lab state. */
  capture?: Capture;
  /** For the receiver benchmark only: acknowledge batches without fdatasync (receiver/store/options.ts SKIP_SYNC). */
  skipFsync?: boolean;
}

const DEFAULT_STREAM_OPTIONS_FOR_STATE = {
  maxBytes: DEFAULT_STREAM_OPTIONS.maxBytes,
  maxBackups: DEFAULT_STREAM_OPTIONS.maxBackups,
};

function listenFailure(err: NodeJS.ErrnoException, address: string, port: number): Error {
  const pick = 'pick another port with --port N (--port 0 takes any free one; it is saved for `up` and `tail`)';
  if (err.code === 'EADDRINUSE') {
    return new RuntimeFailure(
      `port ${port} on ${address} is already in use (another \`audit-lab serve\`, or another program)`,
      pick,
    );
  }
  if (err.code === 'EACCES') return new RuntimeFailure(`not allowed to listen on port ${port} on ${address}`, pick);
  if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') {
    return new UserError(
      `${address} is not an address of this machine`,
      'use --address 127.0.0.1, or 0.0.0.0 for every interface',
    );
  }
  return err;
}

/** Whether `stream` writes into the file `log` has open (the background receiver's stderr does). */
function writesInto(stream: OutStream, log: RotatingLog): boolean {
  const fd = (stream as { fd?: unknown }).fd;
  const file = log.stat();
  if (typeof fd !== 'number' || !file) return false;
  try {
    const st = fstatSync(fd);
    return st.dev === file.dev && st.ino === file.ino;
  } catch {
    return false;
  }
}

/**
 * The receiver's log lines: to the lab's receiver.log, rotated by size, and to stderr as well
 * unless stderr is that file. The background receiver's stderr is receiver.log (ensureReceiver
 * points it there so a crash at start is seen); writing the lines there would grow that one file
 * without bound, past every rotation, since the descriptor keeps the first file.
 */
function receiverLog(
  ui: ServeOutput,
  path: string,
): { log: (line: string) => void; close: () => void; background: boolean } {
  const file = new RotatingLog(path);
  const alsoStderr = !writesInto(ui.stderr, file);
  return {
    background: !alsoStderr,
    log: (line) => {
      file.write(line);
      if (alsoStderr) ui.out.info(line);
    },
    close: () => file.close(),
  };
}

/**
 * Whether this machine can listen on `address` (and `port`, when one is asked for), asked before
 * anything is made or saved rather than after.
 */
async function checkListenable(address: string, port = 0): Promise<void> {
  const probe = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(port, address, resolve);
    });
  } catch (err) {
    throw listenFailure(err as NodeJS.ErrnoException, address, port);
  } finally {
    await new Promise<void>((r) => probe.close(() => r()));
  }
}

/**
 * What undoes a run that fails before it serves: a lab it made is removed again (and the lab home,
 * when it made that too and nothing else is in it), so a failed `serve` leaves no lab behind.
 */
async function undoIfNew(paths: LabPaths): Promise<() => Promise<void>> {
  const newHome = !(await isRealDir(paths.home));
  if (await isRealDir(paths.dir)) return async () => {};
  return async () => {
    if (await isRealDir(paths.dir)) await removeTree(paths.dir);
    if (newHome) await rmdir(paths.home).catch(() => {});
  };
}

/** Serves the lab's receiver in this process until SIGINT or SIGTERM; 0 once stopped cleanly. */
export async function serveReceiver(paths: LabPaths, o: ServeSettings, ui: ServeOutput): Promise<number> {
  const { address } = o;
  if (address !== undefined) await checkListenable(address);

  // Only a pid file that still names a running receiver counts: a stale one's pid may be anyone's.
  const existing = await runningReceiver(paths);
  if (existing && existing.pid !== process.pid) {
    throw new RuntimeFailure(
      `the receiver of lab ${JSON.stringify(paths.name)} is already running (pid ${existing.pid}${existing.url ? `, ${existing.url}` : ''})`,
      `stop it first (\`kill ${existing.pid}\`), or use it as it is`,
    );
  }
  const saved = await readState(paths);
  const port = o.port ?? saved?.receiver.port ?? 0;
  if (port !== 0) await checkListenable(address ?? saved?.receiver.address ?? DEFAULT_RECEIVER_ADDRESS, port);
  const undo = await undoIfNew(paths);
  let listening = false;
  try {
    return await serveLab(paths, o, ui, () => (listening = true));
  } catch (err) {
    if (!listening) await undo();
    throw err;
  }
}

/** serveReceiver once the flags are checked; `onListening` once it listens and its pid file names it. */
async function serveLab(paths: LabPaths, o: ServeSettings, ui: ServeOutput, onListening: () => void): Promise<number> {
  const { address } = o;
  const lab: LabHandle = await withLabLock(paths, 'serve', async () => {
    const first = await ensureLab(paths);
    for (const r of first.reissued) ui.out.warn(describeReissue(r, paths, first.state.mode, 'serve'));
    const streams = {
      ...DEFAULT_STREAM_OPTIONS_FOR_STATE,
      ...first.state.streams,
      ...(o.maxStreamBytes !== undefined ? { maxBytes: o.maxStreamBytes } : {}),
      ...(o.maxStreamFiles !== undefined ? { maxBackups: o.maxStreamFiles } : {}),
    };
    const newAddress = address !== undefined && address !== first.state.receiver.address;
    const newStreams = o.maxStreamBytes !== undefined || o.maxStreamFiles !== undefined;
    const newCapture = o.capture !== undefined && o.capture !== first.state.capture;
    if (!newAddress && !newStreams && !newCapture) return first;
    if (newCapture) first.state.capture = o.capture!;
    // A new address goes to state before listening so the server certificate is reissued to cover it.
    if (newAddress) first.state.receiver.address = address;
    if (newStreams) first.state.streams = streams;
    first.state.updatedAt = new Date().toISOString();
    await writeState(paths, first.state);
    return ensureLab(paths);
  });

  const listenAddress = lab.state.receiver.address;
  const wantPort = o.port ?? lab.state.receiver.port;
  const everywhere = everyInterfaceWarning(listenAddress);
  if (everywhere !== null) ui.out.warn(everywhere);
  const { log, close: closeLog, background } = receiverLog(ui, paths.receiverLog);
  try {
    return await serveWith(
      ui,
      paths,
      lab,
      { address: listenAddress, port: wantPort, skipFsync: o.skipFsync === true, background, onListening },
      log,
    );
  } finally {
    closeLog();
  }
}

/** How one run listens: where, and what it tells once it does. */
interface Listen {
  address: string;
  port: number;
  skipFsync: boolean;
  /** Its output goes only to the lab's log, where no one watches it: a receiver in the background. */
  background: boolean;
  onListening: () => void;
}

async function serveWith(
  ui: ServeOutput,
  paths: LabPaths,
  lab: LabHandle,
  listen: Listen,
  log: (line: string) => void,
): Promise<number> {
  const { address: listenAddress, port: wantPort, skipFsync } = listen;
  let running: RunningReceiver;
  try {
    running = await startLabReceiver(lab, {
      address: listenAddress,
      port: wantPort,
      log,
      streams: { ...lab.state.streams, ...(skipFsync ? SKIP_SYNC : {}) },
    });
  } catch (err) {
    throw listenFailure(err as NodeJS.ErrnoException, listenAddress, wantPort);
  }

  try {
    if (running.port !== lab.state.receiver.port) {
      // Saved only once listening worked, so a port in use never ends up in state; the real port
      // (for --port 0) is what `up` and `tail` need to find this receiver.
      await withLabLock(paths, 'serve', async () => {
        const state = (await readState(paths)) ?? lab.state;
        state.receiver.port = running.port;
        state.updatedAt = new Date().toISOString();
        await writeState(paths, state);
      });
    }
    await writePidFile(paths, process.pid, running.url, listen.background);
  } catch (err) {
    await running.close();
    throw err;
  }
  listen.onListening();

  // Listening before the URL is printed: whoever reads it may stop the receiver at once, and a
  // signal with no listener yet would kill the process without closing the streams.
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    const stop = (sig: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(sig);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  ui.out.line(`${running.url}`);
  // Each mode serves only its own endpoints (the state's mode at start; a mode change in state is followed).
  if (lab.state.mode === 'static') ui.out.line(`  static endpoint (mutual TLS): ${running.url}${STATIC_PATH}`);
  else ui.out.line(`  dynamic endpoints: ${running.url}/sinks/<sink>/<token> (tokens are in ${paths.state})`);
  log(
    `receiver of lab ${JSON.stringify(paths.name)} (${lab.state.mode} mode) writing to ${paths.streamsDir}; Ctrl-C stops it`,
  );
  const forwarding = reportForwarding(paths, () => running.forwarding(), log);

  const signal = await stopped;
  log(`${signal}: no new connections; finishing the batches in flight`);
  try {
    await running.close();
  } finally {
    await forwarding.stop();
    await removePidFile(paths, process.pid);
  }
  log('receiver stopped; every acknowledged batch is in the streams');
  return 0;
}
