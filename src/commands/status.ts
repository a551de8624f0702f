/** `audit-lab status`: the lab's status (src/cluster/status.ts) as a table, or `-o json|yaml|wide|name` (--json: -o json). */
import { labProvider } from '../cluster/providers.js';
import type { Provider } from '../cluster/provider.js';
import { collectStatus, type StatusReport } from '../cluster/status.js';
import { type ReceiverControl, receiverControl } from '../daemon/control.js';
import { makeTools, type Tools } from '../tools/index.js';
import { createRunner } from '../tools/run.js';
import { escapeStrings } from '../ui/escape.js';
import { forwardingCells, lastEventCell, printObjects } from '../ui/printers.js';
import { tableLines } from '../ui/table.js';
import { wrapText } from '../ui/width.js';
import { type Common, type Context, pathsFor, type Printed } from './context.js';

// --- options: what statusCommand.ts parses the flags into ---
export interface StatusOptions extends Common, Printed {}
// --- end options ---

export interface StatusDeps {
  tools: Tools;
  provider: Provider;
  receiver: ReceiverControl | null;
}

export async function status(o: StatusOptions, ctx: Context, deps: Partial<StatusDeps> = {}): Promise<number> {
  const paths = pathsFor(ctx, o.name);
  const tools = deps.tools ?? makeTools(createRunner(ctx.io.env));
  const provider = deps.provider ?? (await labProvider(paths, tools, ctx.io.env));
  const receiver = deps.receiver !== undefined ? deps.receiver : await receiverControl(ctx.io.env);
  const r = await collectStatus(paths, { tools, provider }, receiver);
  printObjects(ctx.out, o.output, [r], {
    document: r,
    name: (x) => `lab/${x.lab.name}`,
    // Every field may hold outside text (paths under AUDIT_LAB_HOME, event times, tools' messages).
    table: (wide) => printStatus(ctx, escapeStrings(r), wide),
  });
  return 0;
}

/** One line per sink the receiver forwards: where to, its backlog, drops, retries and last error. */
function printForwarding(r: StatusReport, row: (k: string, v: string) => void): void {
  for (const k of r.sinks) {
    if (k.forwarding === undefined) continue;
    const to = `${k.name} -> ${k.url ?? '-'}`;
    if (k.forwarding === null) {
      row(
        'forward',
        `${to}: ${r.receiver.running ? 'no report from the receiver yet' : 'not forwarding (the receiver is not running)'}`,
      );
      continue;
    }
    const c = forwardingCells(k.forwarding);
    row(
      'forward',
      `${to}: backlog ${c.backlog}, ${c.dropped} dropped, ${c.retries} retries, last error: ${c.lastError}`,
    );
  }
}

function printStatus(ctx: Context, r: StatusReport, wide: boolean): void {
  const s = ctx.out.style;
  const width = ctx.out.width;
  // Values wrap under themselves, the names column kept clear.
  const row = (k: string, v: string) =>
    ctx.out.line(`${k.padEnd(9)} ${wrapText(v, width, { lead: 10, indent: 10 }).join('\n')}`);
  const good = (t: string) => s.green(t);
  const bad = (t: string) => s.red(t);
  row('lab', r.lab.exists ? `${r.lab.name} (${r.lab.dir})` : `${r.lab.name}: none yet (${r.lab.dir})`);
  const binary = r.cluster.provider === 'binary';
  if (r.mode)
    row('mode', `${r.mode}, ${binary ? 'control plane as local processes' : (r.image ?? "kind's default image")}`);
  const c = r.cluster;
  let cl: string;
  if (c.error) cl = bad(`unknown (${c.error})`);
  else if (!c.exists) cl = 'none';
  else if (c.running === false) cl = bad(`${binary ? 'process' : 'node'} ${c.node} stopped`);
  else if (c.ready)
    cl = `${good('ready')}${c.kubernetesVersion ? `, Kubernetes ${c.kubernetesVersion}` : ''} (context ${c.context})`;
  else cl = `${bad('API server not ready')} (context ${c.context})`;
  row('cluster', cl);
  const rc = r.receiver;
  if (rc.running) {
    row(
      'receiver',
      `${rc.healthy === false ? bad('not answering') : good('running')}, pid ${rc.pid}, ${rc.url}${rc.reachedAt ? `, ${binary ? 'the API server' : 'node'} reaches it at ${rc.reachedAt}` : ''}`,
    );
  } else {
    row('receiver', `not running${rc.url ? ` (lab's address: ${rc.url})` : ''}`);
  }
  if (r.sinks.length === 0) row('sinks', r.lab.exists ? 'none' : '-');
  else {
    const now = Date.now();
    const [head, ...lines] = tableLines(
      [
        ['NAME', 'LEVEL', 'STAGES', 'EVENTS', 'LAST EVENT', ...(wide ? ['URL'] : [])],
        ...r.sinks.map((k) => [
          k.name,
          k.level,
          k.stages.join(',') || '-',
          String(k.events),
          lastEventCell(k.lastEvent, wide, now),
          ...(wide ? [k.url ?? '-'] : []),
        ]),
      ],
      undefined,
      width === undefined ? undefined : width - 10,
    );
    row('sinks', head!);
    for (const line of lines) row('', line);
  }
  printForwarding(r, row);
  const files = Object.entries(r.files).filter(([k, v]) => v !== null && k !== 'dir');
  if (files.length > 0) {
    row('files', files[0]![1]!);
    for (const [, v] of files.slice(1)) row('', v!);
  }
  if (r.problems.length > 0) {
    ctx.out.line();
    for (const p of r.problems)
      ctx.out.line(`${s.yellow('!')} ${wrapText(p, width, { lead: 2, indent: 2 }).join('\n')}`);
  }
}
