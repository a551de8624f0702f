import { RuntimeFailure, UserError } from '../errors.js';
import { describeReissue, ensureLab, type LabHandle } from '../lab/lab.js';
import { withLabLock } from '../lab/lock.js';
import { readState, writeState } from '../lab/state.js';
import { DEFAULT_STREAM_OPTIONS } from '../receiver/streams.js';

const DEFAULT_STREAM_OPTIONS_FOR_STATE = { maxBytes: DEFAULT_STREAM_OPTIONS.maxBytes, maxBackups: DEFAULT_STREAM_OPTIONS.maxBackups };
import { removePidFile, runningReceiver, writePidFile } from '../receiver/daemon.js';
import { parseHost, STATIC_PATH } from '../receiver/endpoints.js';
import { startLabReceiver, type RunningReceiver } from '../receiver/run.js';
import { type Context, pathsFor } from './context.js';
import type { ServeOptions } from './options.js';

function listenFailure(err: NodeJS.ErrnoException, address: string, port: number): Error {
  const pick = 'pick another port with --port N (--port 0 takes any free one; it is saved for `up` and `tail`)';
  if (err.code === 'EADDRINUSE') {
    return new RuntimeFailure(`port ${port} on ${address} is already in use (another \`audit-lab serve\`, or another program)`, pick);
  }
  if (err.code === 'EACCES') return new RuntimeFailure(`not allowed to listen on port ${port} on ${address}`, pick);
  if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') {
    return new UserError(`${address} is not an address of this machine`, 'use --address 127.0.0.1, or 0.0.0.0 for every interface');
  }
  return err;
}

/**
 * `audit-lab serve`: the receiver in the foreground until SIGINT/SIGTERM. The lab lock is held
 * only while state is created or changed, never while serving, so `sink create` works meanwhile.
 */
export async function serve(o: ServeOptions, ctx: Context): Promise<number> {
  const paths = pathsFor(ctx, o.name);
  const address = o.address !== undefined ? parseHost('--address', o.address, 'e.g. --address 127.0.0.1, or --address 0.0.0.0 for every interface') : undefined;

  // Only a pid file that still names a running receiver counts: a stale one's pid may be anyone's.
  const existing = await runningReceiver(paths);
  if (existing && existing.pid !== process.pid) {
    throw new RuntimeFailure(
      `the receiver of lab ${JSON.stringify(paths.name)} is already running (pid ${existing.pid}${existing.url ? `, ${existing.url}` : ''})`,
      `stop it first (\`kill ${existing.pid}\`), or use it as it is`,
    );
  }

  const lab: LabHandle = await withLabLock(paths, 'serve', async () => {
    const first = await ensureLab(paths);
    for (const r of first.reissued) ctx.out.warn(describeReissue(r, paths, first.state.mode, 'serve'));
    const streams = {
      ...DEFAULT_STREAM_OPTIONS_FOR_STATE,
      ...first.state.streams,
      ...(o.maxStreamBytes !== undefined ? { maxBytes: o.maxStreamBytes } : {}),
      ...(o.maxStreamFiles !== undefined ? { maxBackups: o.maxStreamFiles } : {}),
    };
    const newAddress = address !== undefined && address !== first.state.receiver.address;
    const newStreams = o.maxStreamBytes !== undefined || o.maxStreamFiles !== undefined;
    if (!newAddress && !newStreams) return first;
    // A new address goes to state before listening so the server certificate is reissued to cover it.
    if (newAddress) first.state.receiver.address = address;
    if (newStreams) first.state.streams = streams;
    first.state.updatedAt = new Date().toISOString();
    await writeState(paths, first.state);
    return ensureLab(paths);
  });

  const listenAddress = lab.state.receiver.address;
  const wantPort = o.port ?? lab.state.receiver.port;
  let running: RunningReceiver;
  try {
    running = await startLabReceiver(lab, {
      address: listenAddress,
      port: wantPort,
      log: (line) => ctx.out.info(line),
      ...(lab.state.streams ? { streams: lab.state.streams } : {}),
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
    await writePidFile(paths, process.pid, running.url);
  } catch (err) {
    await running.close();
    throw err;
  }

  ctx.out.line(`${running.url}`);
  ctx.out.line(`  static endpoint (mutual TLS): ${running.url}${STATIC_PATH}`);
  ctx.out.line(`  dynamic endpoints: ${running.url}/sinks/<sink>/<token> (tokens are in ${paths.state})`);
  ctx.out.info(`receiver of lab ${JSON.stringify(paths.name)} (${lab.state.mode} mode) writing to ${paths.streamsDir}; Ctrl-C stops it`);

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const stop = (sig: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(sig);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  ctx.out.info(`${signal}: no new connections; finishing the batches in flight`);
  try {
    await running.close();
  } finally {
    await removePidFile(paths, process.pid);
  }
  ctx.out.info('receiver stopped; every acknowledged batch is in the streams');
  return 0;
}
