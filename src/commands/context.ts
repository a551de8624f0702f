import type { IO } from '../io.js';
import { labHome, labPaths, type LabPaths } from '../lab/paths.js';
import { makeTools, type Tools } from '../tools/index.js';
import { commandLine, createRunner } from '../tools/run.js';
import { Output } from '../ui/output.js';

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

/** The external tools over one runner; with --verbose each command line is printed as it runs. */
export function toolsFor(ctx: Context, verbose = false): Tools {
  return makeTools(createRunner(ctx.io.env, verbose ? { onCommand: (argv) => ctx.out.info(ctx.out.style.dim(`$ ${commandLine(argv)}`)) } : {}));
}
