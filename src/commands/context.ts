import type { IO } from '../io.js';
import { labHome, labPaths, type LabPaths } from '../lab/paths.js';
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
