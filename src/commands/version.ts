/** `audit-lab version`: the versions a bug report needs (audit-lab's, Node.js's, the platform), as `kubectl version` prints its own. */
import { printObjects } from '../ui/printers.js';
import { tableLines } from '../ui/table.js';
import type { Context, Printed } from './context.js';

// --- options: what versionCommand.ts parses the flags into ---
/** `version`: the version is the one main.ts reads from package.json, handed over by the CLI. */
export interface VersionOptions extends Printed {
  version: string;
}
// --- end options ---

export async function version(o: VersionOptions, ctx: Context): Promise<number> {
  const v = { auditLab: o.version, node: process.version, platform: `${process.platform}/${process.arch}` };
  printObjects(ctx.out, o.output, [v], {
    document: v,
    name: () => '',
    table: () => {
      for (const line of tableLines([
        ['audit-lab', v.auditLab],
        ['node', v.node],
        ['platform', v.platform],
      ]))
        ctx.out.line(line);
    },
  });
  return 0;
}
