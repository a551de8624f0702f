/**
 * `audit-lab down`: stop the receiver and delete the cluster; the events stay unless --purge.
 * Nothing to delete is not an error, so `down` can always be run again.
 */
import { withLabLock } from '../lab/lock.js';
import { DEFAULT_LAB_NAME } from '../lab/paths.js';
import { isRealDir, refuseLabSymlinks, removeTree } from '../lab/safety.js';
import { makeTools, type Tools } from '../tools/index.js';
import { type ReceiverControl, receiverControl } from '../daemon/control.js';
import { createRunner, ToolMissing } from '../tools/run.js';
import { escapeText } from '../ui/escape.js';
import { type Context, pathsFor } from './context.js';
import type { DownOptions } from './options.js';

export interface DownDeps {
  tools: Tools;
  receiver: ReceiverControl | null;
}

export async function down(o: DownOptions, ctx: Context, deps: Partial<DownDeps> = {}): Promise<number> {
  const paths = pathsFor(ctx, o.name);
  const tools = deps.tools ?? makeTools(createRunner(ctx.io.env));
  const receiver = deps.receiver !== undefined ? deps.receiver : await receiverControl(ctx.io.env);
  // Before anything is stopped or deleted: a lab reached through a link is refused whole.
  await refuseLabSymlinks(paths);
  const labExists = await isRealDir(paths.dir);
  const nameFlag = o.name === DEFAULT_LAB_NAME ? '' : ` --name ${o.name}`;

  const body = async (): Promise<number> => {
    let code = 0;
    if (labExists && receiver) {
      if (await receiver.stop(paths)) ctx.out.line('stopped the receiver');
      else ctx.out.line('no receiver running');
    }
    let clusters: string[] | null = null;
    try {
      clusters = await tools.kind.clusters();
    } catch (err) {
      if (!(err instanceof ToolMissing)) throw err;
      ctx.out.error(`kind is not on PATH: could not look for cluster ${JSON.stringify(o.name)}`);
      ctx.out.info(`hint: ${err.hint}; or remove its node by hand: docker rm -f ${o.name}-control-plane`);
      code = 1;
    }
    if (clusters !== null) {
      if (clusters.includes(o.name) && !labExists) {
        // Not ours to delete: up never made it, or the lab was purged by hand.
        ctx.out.line(`cluster ${JSON.stringify(o.name)} exists but has no audit-lab lab: left alone (\`kind delete cluster --name ${o.name}\` deletes it)`);
      } else if (clusters.includes(o.name)) {
        const spin = await ctx.out.spinner(`deleting cluster ${o.name}`);
        try {
          await tools.kind.deleteCluster(o.name);
        } catch (err) {
          spin.fail();
          throw err;
        }
        spin.succeed(`deleted cluster ${o.name}`);
      } else {
        ctx.out.line(`no cluster ${JSON.stringify(o.name)}: nothing to delete`);
      }
    }
    if (!labExists) {
      ctx.out.line(`no lab ${JSON.stringify(o.name)} in ${paths.home}`);
    } else if (o.purge) {
      const removed = await removeTree(paths.dir);
      // What was there, not what a lab usually holds: the user sees exactly which keys and events went.
      ctx.out.line(`purged ${escapeText(paths.dir)}: removed ${removed.entries.length === 0 ? 'the empty directory' : `${removed.entries.length} entries`}`);
      for (const e of removed.entries) {
        ctx.out.line(`  ${escapeText(e)}${removed.links.includes(e) ? ' (a symbolic link: removed the link, not its target)' : ''}`);
      }
    } else {
      ctx.out.line(`kept ${paths.dir}: sinks and events stay (\`audit-lab up${nameFlag}\` brings the lab back, \`audit-lab down${nameFlag} --purge\` deletes them)`);
    }
    return code;
  };

  // Purging removes the lock with the directory; the lock then finds nothing of its own to remove.
  return labExists ? withLabLock(paths, 'down', body) : body();
}
