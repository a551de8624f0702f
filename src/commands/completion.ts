/** `audit-lab completion SHELL`: the script for that shell (src/completion.ts). */
import { completionScript, type Shell } from '../completion.js';
import type { Context } from './context.js';

// --- options: what completionCommand.ts parses the flags into ---
export interface CompletionOptions {
  shell: Shell;
}
// --- end options ---

export async function completion(o: CompletionOptions, ctx: Pick<Context, 'out'>): Promise<number> {
  ctx.out.data(completionScript(o.shell));
  return 0;
}
