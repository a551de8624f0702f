import type { EnsuredReceiver } from '../daemon/daemon.js';
import type { IO } from '../io.js';
import { everyInterfaceWarning } from '../lab/endpoints.js';
import { labHome, labPaths, type LabPaths, nameFlag } from '../lab/paths.js';
import { Output } from '../ui/output.js';
import type { OutputFormat } from '../ui/printers.js';

/**
 * Test seam: AUDIT_LAB_NO_RECEIVER=1 makes a following `tail` or `top` read the stream files
 * without starting the receiver, so a test can follow files it writes itself.
 */
export const NO_RECEIVER_ENV = 'AUDIT_LAB_NO_RECEIVER';

/** Starts the lab's receiver in the background unless it runs (src/daemon/daemon.ts). */
export type EnsureReceiver = (paths: LabPaths) => Promise<EnsuredReceiver>;

/** ensureReceiver, its module loaded only when called: a command that does not follow never loads the daemon code. */
export const ensureReceiverLazily: EnsureReceiver = async (paths) =>
  (await import('../daemon/daemon.js')).ensureReceiver(paths);

/**
 * For `tail` and `top` following a lab: its receiver, started unless it runs (or the test seam
 * says not to), and a note when this started it.
 */
export async function receiverForFollowing(
  ctx: Context,
  paths: LabPaths,
  ensure: EnsureReceiver,
): Promise<number | undefined> {
  if (ctx.io.env[NO_RECEIVER_ENV] === '1') return undefined;
  const receiver = await ensure(paths);
  if (!receiver.started) return receiver.pid;
  ctx.out.info(ctx.out.errStyle.dim(`started the receiver (pid ${receiver.pid}) at ${receiver.url}`));
  const everywhere = receiver.address === undefined ? null : everyInterfaceWarning(receiver.address);
  if (everywhere !== null) ctx.out.warn(everywhere);
  return receiver.pid;
}

/** How often a following command looks for its receiver: it must say it stopped within 2 s. */
export const RECEIVER_WATCH_MS = 1000;

/**
 * While `tail` or `top` follows a lab: tells `onChange` when the receiver stops (nothing new is
 * stored until one runs again: silence alone would look like a quiet cluster), with how to
 * start it, and again (with null) when one runs again. Reads the pid file, as `status` does.
 */
export function watchReceiver(
  paths: LabPaths,
  command: string,
  onChange: (gone: string | null, pid: number | undefined) => void,
): () => void {
  let stopped = false;
  let running = true;
  const labFlag = nameFlag(paths.name);
  const look = async () => {
    const now = await (await import('../daemon/daemon.js')).runningReceiver(paths).catch(() => null);
    if (stopped || (now !== null) === running) return;
    running = now !== null;
    onChange(
      running
        ? null
        : `the lab's receiver stopped: no new events are stored. Start it again with \`audit-lab ${command}${labFlag}\` (starts it in the background) or \`audit-lab serve${labFlag}\` (in a terminal)`,
      now?.pid,
    );
  };
  const timer = setInterval(() => void look(), RECEIVER_WATCH_MS);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}

/** The options of a command on one lab: the global --name. */
export interface Common {
  name: string;
}

/** `-o FORMAT` (src/ui/printers.ts); `--json` is `-o json`; 'table' when neither is given. */
export interface Printed {
  output: OutputFormat;
}

/** What every command is given: the outside world, the printer, and where labs live. */
export interface Context {
  io: IO;
  out: Output;
  home: string;
}

export function makeContext(io: IO): Context {
  return { io, out: Output.for(io), home: labHome(io.env, io.cwd) };
}

export function pathsFor(ctx: Pick<Context, 'home'>, name: string): LabPaths {
  return labPaths(ctx.home, name);
}

/**
 * --verbose prints every command and every line kind prints: an animated spinner would draw over
 * them, so progress is plain start and end lines then (Output treats CI as not interactive).
 */
export function verboseContext(ctx: Context, verbose: boolean): Context {
  return verbose ? { ...ctx, out: new Output(ctx.io.stdout, ctx.io.stderr, { ...ctx.io.env, CI: '1' }) } : ctx;
}

/**
 * How a command that runs until stopped learns to stop: Ctrl-C when `listen` (SIGINT, or `interrupt` in tests),
 * or its reader going away (`audit-lab tail | head`: EPIPE, stopped quietly instead of dying on an
 * unhandled 'error' event; that listener stays, as a write may fail after the command returned).
 */
export function untilStopped(
  ctx: Context,
  o: { listen: boolean; interrupt?: AbortSignal | undefined },
): { signal: AbortSignal; interrupted: () => boolean; release: () => void } {
  const { interrupt } = o;
  const stop = new AbortController();
  const stdout = ctx.io.stdout as { on?: (ev: 'error', fn: (err: NodeJS.ErrnoException) => void) => unknown };
  stdout.on?.('error', (err) => {
    if (err.code !== 'EPIPE') throw err;
    stop.abort();
  });
  let interrupted = false;
  const onInterrupt = () => {
    interrupted = true;
    stop.abort();
  };
  if (o.listen) {
    if (interrupt === undefined) process.once('SIGINT', onInterrupt);
    else if (interrupt.aborted) onInterrupt();
    else interrupt.addEventListener('abort', onInterrupt, { once: true });
  }
  return {
    signal: stop.signal,
    interrupted: () => interrupted,
    release: () => {
      process.off('SIGINT', onInterrupt);
      interrupt?.removeEventListener('abort', onInterrupt);
    },
  };
}
