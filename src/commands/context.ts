import type { IO } from '../io.js';
import { labHome, labPaths, type LabPaths } from '../lab/paths.js';
import { Output } from '../ui/output.js';

/**
 * Test seam: AUDIT_LAB_NO_RECEIVER=1 makes a following `top` read the stream files without
 * starting the receiver, so a test can follow files it writes itself (tail.ts has the same).
 */
export const NO_RECEIVER_ENV = 'AUDIT_LAB_NO_RECEIVER';

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
