/** `audit-lab down`: flags -> src/cluster/down.ts -> what became of the receiver, cluster and lab. */
import { downLab, type DownDeps } from '../cluster/down.js';
import { labProvider } from '../cluster/providers.js';
import { receiverControl } from '../daemon/control.js';
import { UserError } from '../errors.js';
import { nameFlag } from '../lab/paths.js';
import { commandLine } from '../tools/run.js';
import { escapeText } from '../ui/escape.js';
import { OutputProgress } from '../ui/progress.js';
import { type Common, type Context, pathsFor } from './context.js';
import { toolsFor } from './tools.js';

// --- options: what downCommand.ts parses the flags into ---
export interface DownOptions extends Common {
  purge: boolean;
  /** Stop the receiver only. */
  keepCluster: boolean;
}
// --- end options ---

export async function down(o: DownOptions, ctx: Context, deps: Partial<DownDeps> = {}): Promise<number> {
  if (o.purge && o.keepCluster) {
    // The cluster's node mounts the lab's apiserver/ directory, and its API server trusts the lab CA.
    throw new UserError(
      '--purge deletes the files a kept cluster still uses: give --purge or --keep-cluster, not both',
      'to remove everything: `audit-lab down --purge`',
    );
  }
  const paths = pathsFor(ctx, o.name);
  const provider = deps.provider ?? (await labProvider(paths, toolsFor(ctx), ctx.io.env));
  const receiver = deps.receiver !== undefined ? deps.receiver : await receiverControl(ctx.io.env);
  const r = await downLab(
    paths,
    { purge: o.purge, keepCluster: o.keepCluster },
    { provider, receiver, progress: new OutputProgress(ctx.out) },
  );
  const lab = nameFlag(o.name);
  if (r.receiverStopped !== null) ctx.out.line(r.receiverStopped ? 'stopped the receiver' : 'no receiver running');
  if (r.missing) {
    ctx.out.error(`${r.missing.tool} is not on PATH: could not look for cluster ${JSON.stringify(o.name)}`);
    ctx.out.info(`hint: ${r.missing.hint}; or remove its node by hand: docker rm -f ${provider.node(o.name)}`);
  }
  if (r.cluster === 'not ours') {
    ctx.out.line(
      `cluster ${JSON.stringify(o.name)} exists but has no audit-lab lab: left alone (\`${provider.planned
        .delete(o.name)
        .flatMap((p) => ('command' in p ? [commandLine(p.command)] : []))
        .join('; ')}\` deletes it)`,
    );
  } else if (r.cluster === 'absent') {
    ctx.out.line(`no cluster ${JSON.stringify(o.name)}: nothing to delete`);
  } else if (r.cluster === 'never made') {
    ctx.out.line(
      `lab ${JSON.stringify(o.name)} never had a cluster (\`audit-lab up${lab}\` makes one): nothing to delete`,
    );
  } else if (r.cluster === 'kept') {
    ctx.out.line(
      `kept cluster ${JSON.stringify(o.name)}: the receiver gets none of its events until \`audit-lab up${lab}\` starts it again`,
    );
  }
  if (!r.labExists) {
    ctx.out.line(`no lab ${JSON.stringify(o.name)} in ${paths.home}`);
  } else if (r.purged) {
    // What was there, not what a lab usually holds: the user sees exactly which keys and events went.
    ctx.out.line(
      `purged ${escapeText(paths.dir)}: removed ${r.purged.entries.length === 0 ? 'the empty directory' : `${r.purged.entries.length} entries`}`,
    );
    for (const e of r.purged.entries) {
      ctx.out.line(
        `  ${escapeText(e)}${r.purged.links.includes(e) ? ' (a symbolic link: removed the link, not its target)' : ''}`,
      );
    }
  } else {
    ctx.out.line(
      `kept ${paths.dir}: sinks and events stay (\`audit-lab up${lab}\` brings the lab back, \`audit-lab down${lab} --purge\` deletes them)`,
    );
  }
  return r.missing ? 1 : 0;
}
