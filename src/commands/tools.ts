/**
 * The external tools for a command, over one runner. Apart from context.ts so that `--version`
 * and `--help`, which load the command table, never load execa.
 */
import { makeTools, type Tools } from '../tools/index.js';
import { commandLine, createRunner } from '../tools/run.js';
import type { Context } from './context.js';

/** With --verbose each command line is printed as it runs. */
export function toolsFor(ctx: Context, verbose = false): Tools {
  return makeTools(
    createRunner(
      ctx.io.env,
      verbose ? { onCommand: (argv) => ctx.out.info(ctx.out.style.dim(`$ ${commandLine(argv)}`)) } : {},
    ),
  );
}
