/** `audit-lab list`: every lab under the lab home (src/cluster/list.ts), as a table or `-o FORMAT`. */
import { binaryApiserverRuns } from '../cluster/providers.js';
import { kindProvider } from '../cluster/kind.js';
import { type LabSummary, listLabs } from '../cluster/list.js';
import { receiverControl } from '../daemon/control.js';
import { printObjects, printTable } from '../ui/printers.js';
import type { Context, Printed } from './context.js';
import { toolsFor } from './tools.js';

// --- options: what listCommand.ts parses the flags into ---
export type ListOptions = Printed;
// --- end options ---

function receiverCell(l: LabSummary): string {
  if (!l.receiver.running) return 'stopped';
  return l.receiver.healthy === false ? 'not answering' : 'running';
}

function clusterCell(l: LabSummary): string {
  return l.cluster.exists === null ? 'unknown' : l.cluster.exists ? 'up' : 'down';
}

export async function list(o: ListOptions, ctx: Context): Promise<number> {
  const { labs, clusterError } = await listLabs(
    ctx.home,
    kindProvider(toolsFor(ctx)),
    await receiverControl(ctx.io.env),
    binaryApiserverRuns,
  );
  if (clusterError !== null)
    ctx.out.warn(`${clusterError}: cannot tell which clusters are up (\`audit-lab doctor\` checks the tools)`);
  printObjects(ctx.out, o.output, labs, {
    name: (l) => `lab/${l.name}`,
    empty: `no labs in ${ctx.home}: make one with \`audit-lab up\` (or \`audit-lab up --name NAME\` for another)`,
    table: (wide) => {
      const head = [
        'NAME',
        'MODE',
        'KUBERNETES',
        'CLUSTER',
        'RECEIVER',
        'URL',
        'SINKS',
        'EVENTS',
        ...(wide ? ['PID', 'IMAGE', 'DIR'] : []),
      ];
      const rows = labs.map((l) => [
        l.name,
        l.mode ?? '-',
        l.kubernetesVersion === null ? '-' : `v${l.kubernetesVersion.replace(/^v/, '')}`,
        clusterCell(l),
        receiverCell(l),
        l.receiver.url ?? '-',
        l.sinks.map((k) => k.name).join(',') || '-',
        String(l.events),
        ...(wide ? [l.receiver.pid === null ? '-' : String(l.receiver.pid), l.image ?? "kind's default", l.dir] : []),
      ]);
      printTable(ctx.out, [head, ...rows]);
      for (const l of labs) if (l.problem !== null) ctx.out.warn(`lab ${JSON.stringify(l.name)}: ${l.problem}`);
    },
  });
  return 0;
}
