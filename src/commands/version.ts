/** `audit-lab version`: the versions a bug report needs (audit-lab's, Node.js's, the platform), as `kubectl version` prints its own. */
import { printObjects } from '../ui/printers.js';
import { tableLines } from '../ui/table.js';
import type { Context } from './context.js';
import type { VersionOptions } from './options.js';

export async function version(o: VersionOptions, ctx: Context): Promise<number> {
  const v = { auditLab: o.version, node: process.version, platform: `${process.platform}/${process.arch}` };
  printObjects(ctx.out, o.output, [v], {
    document: v,
    name: () => '',
    table: () => {
      for (const line of tableLines([['audit-lab', v.auditLab], ['node', v.node], ['platform', v.platform]])) ctx.out.line(line);
    },
  });
  return 0;
}
