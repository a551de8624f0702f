/**
 * A lab's receiver, wired: the server, the lab's streams, and a watch on state.json so sinks made
 * by `sink create` while it runs are served at once. Used by `serve` and by the tests in-process.
 */
import { type Stats, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { LabHandle } from '../lab/lab.js';
import { type LabState, readState } from '../lab/state.js';
import { escapeText } from '../ui/escape.js';
import { localAddress, receiverUrl } from '../lab/endpoints.js';
import type { ReceiverConfig } from './batchPlan.js';
import { type Limits, Receiver } from './server.js';
import { SinkExtras, type SinkExtrasOptions, type SinkForwarding } from './sinkExtras.js';
import type { StreamOptions } from './store/options.js';
import { StreamStore } from './store/store.js';

export interface RunningReceiver {
  receiver: Receiver;
  store: StreamStore;
  address: string;
  port: number;
  /** Base URL for clients on this machine. */
  url: string;
  /** Each forwarding sink's backlog and counts now. */
  forwarding(): SinkForwarding[];
  close(): Promise<void>;
}

export interface StartOptions {
  address: string;
  /** 0 picks a free port. */
  port: number;
  log?: (line: string) => void;
  limits?: Partial<Limits>;
  streams?: Partial<StreamOptions>;
  /** How often state.json is checked for changes. */
  watchIntervalMs?: number;
  /** Forwarding settings for tests (trusted CA, backoff). */
  forward?: Omit<SinkExtrasOptions, 'log'>;
}

/**
 * Polls state.json's identity (inode, mtime, size). `sink create` replaces the file by rename, so
 * a change of inode is the usual signal; polling works the same on every platform and never
 * misses a rename the way a watch on a replaced file can. `check` also runs before every batch:
 * a request made after `sink create` returned reaches the new sink, however soon its batch comes
 * (the API server may send it within 100 ms; the poll alone left up to its interval uncovered).
 */
export function watchState(
  lab: LabHandle,
  intervalMs: number,
  onChange: (state: Pick<LabState, 'mode' | 'sinks'>) => Promise<void>,
  log: (line: string) => void,
): { check: () => Promise<void> | undefined; stop: () => void } {
  let last = '';
  let applied = JSON.stringify({ mode: lab.state.mode, sinks: lab.state.sinks });
  let running: Promise<void> | null = null;
  const identity = (st: Stats | null) => (st ? `${st.ino}:${st.mtimeMs}:${st.size}` : 'none');
  /**
   * Undefined (nothing to wait for) when state.json is as last read. The stat is synchronous: the
   * check runs before every batch, and an async stat would queue behind the streams' fdatasync
   * calls in libuv's thread pool, holding the batch's body meanwhile. A change, or a look under
   * way, is a promise to wait for.
   */
  const check = (): Promise<void> | undefined => {
    if (running) return running;
    let st: Stats | null = null;
    try {
      st = statSync(lab.paths.state);
    } catch {
      // Gone or unreadable: the look says so, or keeps the sinks it has.
    }
    if (identity(st) === last) return undefined;
    running = look().finally(() => {
      running = null;
    });
    return running;
  };
  const look = async () => {
    try {
      const st = await stat(lab.paths.state).catch(() => null);
      const id = identity(st);
      if (id === last) return;
      last = id;
      // The first look reads it too: a change made between loading the lab and this look counts.
      if (!st) return;
      const state = await readState(lab.paths);
      if (!state) return;
      // Our own `serve` rewrites state (the real port): only a change of sinks or mode matters here.
      const next = JSON.stringify({ mode: state.mode, sinks: state.sinks });
      if (next === applied) return;
      applied = next;
      await onChange({ mode: state.mode, sinks: state.sinks });
      log(
        `${new Date().toISOString()} state changed: ${state.mode} mode, sinks ${state.sinks.map((s) => `${s.name} (${s.level}, ${s.stages.join('+') || 'no stages'})`).join(', ') || 'none'}`,
      );
    } catch (err) {
      // A state file edited into something invalid: keep serving the sinks we have.
      log(
        `${new Date().toISOString()} warning: state not reloaded, keeping the current sinks: ${(err as Error).message}`,
      );
    }
  };
  void check();
  const timer = setInterval(() => void check(), intervalMs);
  timer.unref();
  return { check, stop: () => clearInterval(timer) };
}

export async function startLabReceiver(lab: LabHandle, opts: StartOptions): Promise<RunningReceiver> {
  const out = opts.log ?? (() => {});
  // Forwarding errors quote other servers' replies: nothing raw reaches the log (the Receiver escapes its own lines).
  const log = (line: string) => out(escapeText(line));
  const store = new StreamStore(lab.paths.streamsDir, opts.streams);
  await store.init();
  const openAll = async (config: ReceiverConfig) => {
    // Open every sink's stream now, so `tail` finds the file before the first event.
    await Promise.all(config.sinks.map((s) => store.stream(s.name)));
  };
  const extras = new SinkExtras(lab.paths, { ...opts.forward, log });
  const config = await extras.config({ mode: lab.state.mode, sinks: structuredClone(lab.state.sinks) });
  await openAll(config);
  // Set below, once the receiver it updates exists; until then no batch can come.
  let stateCheck: () => Promise<void> | undefined = () => undefined;
  const receiver = new Receiver({
    pki: lab.pki,
    store,
    config,
    log: out,
    beforeBatch: () => stateCheck(),
    ...(opts.limits ? { limits: opts.limits } : {}),
  });
  let addr: Awaited<ReturnType<typeof receiver.listen>>;
  try {
    addr = await receiver.listen(opts.port, opts.address);
  } catch (err) {
    await extras.close();
    throw err;
  }
  const watch = watchState(
    lab,
    opts.watchIntervalMs ?? 250,
    async (state) => {
      const c = await extras.config(state);
      receiver.setConfig(c);
      openAll(c).catch((err: Error) =>
        log(`${new Date().toISOString()} warning: could not open a stream: ${err.message}`),
      );
      // Deleted sinks' streams close and free their dedupe index for the next sink.
      store
        .retain(c.sinks.map((s) => s.name))
        .catch((err: Error) =>
          log(`${new Date().toISOString()} warning: could not close a deleted sink's stream: ${err.message}`),
        );
    },
    log,
  );
  stateCheck = watch.check;
  return {
    receiver,
    store,
    address: addr.address,
    port: addr.port,
    url: receiverUrl(localAddress(addr.address), addr.port),
    forwarding: () => extras.forwarding(),
    close: async () => {
      watch.stop();
      await receiver.close();
      await extras.close();
    },
  };
}
