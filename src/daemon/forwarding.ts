/**
 * The receiver's forwarding report, <lab>/forwarding.json: each forwarding sink's backlog, drops,
 * retries and last error, for `status` and `sink list`, which run in other processes. The receiver
 * rewrites it from a timer, at most once a second and only when a count changed, never from the
 * path of a batch; atomically (readers see a whole file) and 0600 like the rest of the lab. It
 * names its process as the pid file does (pid and start time), so a report left behind by a
 * receiver that died is never shown as current; a receiver that stops removes it.
 */
import { rm } from 'node:fs/promises';
import { writeFileAtomic } from '../lab/fsutil.js';
import type { LabPaths } from '../lab/paths.js';
import type { LabState } from '../lab/state.js';
import { isSameProcess, processStartToken } from '../lab/process.js';
import { readFileNoFollow } from '../lab/safety.js';
import type { SinkForwarding } from '../receiver/sinkExtras.js';

/** A forwarding sink as the report has it: the forwarder's counts, and when they last changed. */
export type ForwardingState = Omit<SinkForwarding, 'sink'> & { updatedAt: string };

interface ReportFile {
  pid: number;
  started: string | null;
  updatedAt: string;
  sinks: SinkForwarding[];
}

export const FORWARDING_REPORT_MS = 1000;

/**
 * Writes the report while the receiver runs; `stop` waits for a write under way and removes the
 * file. `snapshot` must be cheap: it runs on the timer.
 */
export function reportForwarding(
  paths: LabPaths,
  snapshot: () => SinkForwarding[],
  log: (line: string) => void,
  everyMs = FORWARDING_REPORT_MS,
): { stop(): Promise<void> } {
  const started = processStartToken(process.pid);
  let last = '';
  let failed = '';
  let writing: Promise<void> = Promise.resolve();
  let busy = false;
  const tick = async () => {
    const sinks = snapshot();
    const body = JSON.stringify(sinks);
    if (body === last || (sinks.length === 0 && last === '')) return;
    const file: ReportFile = { pid: process.pid, started: await started, updatedAt: new Date().toISOString(), sinks };
    try {
      if (sinks.length === 0) await rm(paths.forwarding, { force: true });
      else await writeFileAtomic(paths.forwarding, `${JSON.stringify(file, null, 2)}\n`, 0o600);
      last = body;
      failed = '';
    } catch (err) {
      const message = (err as Error).message;
      // Once per cause: the report is retried every tick, the log must not fill with it.
      if (message !== failed)
        log(`${new Date().toISOString()} warning: could not write ${paths.forwarding}: ${message}`);
      failed = message;
    }
  };
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    writing = tick().finally(() => (busy = false));
  }, everyMs);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await writing;
      await rm(paths.forwarding, { force: true });
    },
  };
}

/**
 * Each forwarding sink's state by name, as the running receiver last reported it; null when no
 * running receiver reported (none runs, it has just started, or the file is from one that died).
 */
async function readForwarding(paths: LabPaths): Promise<Map<string, ForwardingState> | null> {
  let file: ReportFile;
  try {
    file = JSON.parse(await readFileNoFollow(paths.forwarding)) as ReportFile;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || err instanceof SyntaxError) return null;
    throw err;
  }
  if (typeof file !== 'object' || file === null || !Array.isArray(file.sinks) || typeof file.pid !== 'number')
    return null;
  if (!(await isSameProcess(file.pid, file.started ?? undefined))) return null;
  return new Map(file.sinks.map(({ sink, ...f }) => [sink, { ...f, updatedAt: file.updatedAt }]));
}

/**
 * A lookup of each sink's forwarding: its state as the running receiver reports it, null when no
 * receiver reports it, undefined for a sink the receiver does not forward (only static-mode sinks
 * with --url: a dynamic-mode AuditSink sends to its URL itself).
 */
export async function forwardingOf(
  paths: LabPaths,
  state: LabState,
): Promise<(sink: string) => ForwardingState | null | undefined> {
  const forwarded = new Set(
    state.mode === 'static' ? state.sinks.filter((s) => s.url !== undefined).map((s) => s.name) : [],
  );
  const reported = forwarded.size > 0 ? await readForwarding(paths) : null;
  return (sink) => (forwarded.has(sink) ? (reported?.get(sink) ?? null) : undefined);
}
