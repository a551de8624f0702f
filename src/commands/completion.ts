/** `audit-lab completion SHELL`: the script for that shell (src/completion.ts). */
import { completionScript } from '../completion.js';
import type { Context } from './context.js';
import type { CompletionOptions } from './options.js';

export async function completion(o: CompletionOptions, ctx: Pick<Context, 'out'>): Promise<number> {
  ctx.out.data(completionScript(o.shell));
  return 0;
}
