/** `sink create | list | delete`: flags -> src/cluster/sinkCreate.ts, sinks.ts -> what changed, or the list. */
import { timingFromEnv } from '../cluster/apiserver.js';
import { labProvider } from '../cluster/providers.js';
import { createSink, planSinkCreate, type SinkCreation } from '../cluster/sinkCreate.js';
import {
  deleteSink,
  describeCapture,
  describeDeferred,
  describeSink,
  FIND_CLUSTER,
  listSinks,
  type SinkCreateRequest,
  type SinkDeps,
} from '../cluster/sinks.js';
import { planLines } from '../cluster/steps.js';
import { nameFlag } from '../lab/paths.js';
import { forwardingCells, lastEventCell, printObjects, printTable } from '../ui/printers.js';
import { OutputProgress } from '../ui/progress.js';
import { type Common, type Context, pathsFor, type Printed } from './context.js';
import { toolsFor } from './tools.js';

// --- options: what sinkCommand.ts parses the flags into ---
export type SinkCreateOptions = SinkCreateRequest;

export interface SinkListOptions extends Common, Printed {}

export interface SinkDeleteOptions extends Common {
  sinkName: string;
}
// --- end options ---

async function defaultDeps(ctx: Context, name: string): Promise<SinkDeps> {
  const tools = toolsFor(ctx);
  return {
    tools,
    provider: await labProvider(pathsFor(ctx, name), tools, ctx.io.env),
    timing: timingFromEnv(ctx.io.env),
    progress: new OutputProgress(ctx.out),
  };
}

export async function sinkCreate(o: SinkCreateOptions, ctx: Context, given?: SinkDeps): Promise<number> {
  const deps = given ?? (await defaultDeps(ctx, o.name));
  if (o.dryRun) return sinkCreatePlan(o, ctx, deps);
  // As `kubectl apply` says it: created (with what), configured (with what changed), unchanged.
  const saved = (c: SinkCreation) => {
    const what =
      c.verb === 'created'
        ? `: ${c.mode === 'dynamic' ? 'AuditSink, ' : ''}${describeSink(c.sink)}`
        : c.verb === 'configured'
          ? `: ${c.changes.join(', ')}`
          : '';
    ctx.out.line(
      `sink ${JSON.stringify(c.sink.name)} ${c.verb}${what}${c.deferred ? `; ${describeDeferred(o.name, c.deferred)}` : ''}`,
    );
  };
  const c = await createSink(o, pathsFor(ctx, o.name), ctx.io.cwd, deps, saved);
  ctx.out.line(`next: audit-lab tail --sink ${c.sink.name}${nameFlag(o.name)}`);
  return 0;
}

/**
 * --dry-run: the AuditSink (dynamic) or the capture change (static) on stdout, as YAML; on stderr,
 * the steps a run takes, each with its commands.
 */
async function sinkCreatePlan(o: SinkCreateOptions, ctx: Context, deps: SinkDeps): Promise<number> {
  const { creation: c, steps } = await planSinkCreate(o, pathsFor(ctx, o.name), ctx.io.cwd, deps);
  if (c.mode === 'dynamic') {
    ctx.out.data(c.doc);
  } else {
    ctx.out.data(`# sink ${JSON.stringify(c.sink.name)} (static mode): ${describeSink(c.sink)}\n`);
    if (c.covered) {
      ctx.out.data(
        `# the API server captures ${describeCapture(c.deployed!)}, which covers it: no restart, policy.yaml unchanged\n`,
      );
    } else {
      ctx.out.data(
        `# ${c.deployed ? `the API server captures ${describeCapture(c.deployed)}, which does not cover it` : 'no capture policy is in force yet'}:\n` +
          `# ${c.paths.policy} would become this, and the API server would restart:\n${c.policy}`,
      );
    }
  }
  const asks = steps.some((s) => s.title === FIND_CLUSTER);
  const supposed = `; the steps take the cluster to be running (with none, the sink is saved and the next \`audit-lab up${nameFlag(o.name)}\` applies it)`;
  ctx.out.info(`dry run: nothing is run or written${asks ? supposed : ''}`);
  for (const line of planLines(steps)) ctx.out.info(line);
  return 0;
}

export async function sinkList(o: SinkListOptions, ctx: Context, given?: SinkDeps): Promise<number> {
  const deps = given ?? (await defaultDeps(ctx, o.name));
  const { state, source, rows } = await listSinks(pathsFor(ctx, o.name), deps.tools, deps.progress);
  printObjects(ctx.out, o.output, rows, {
    metadata: { lab: o.name, mode: state.mode, source },
    name: (r) => `sink/${r.name}`,
    table: (wide) => {
      if (rows.length === 0) {
        ctx.out.line('no sinks: create one with `audit-lab sink create --level Metadata --stage ResponseComplete`');
        return;
      }
      const level = (r: (typeof rows)[number]) => (wide || r.policy === null ? r.level : `${r.policy} (≤${r.level})`);
      const throttle = (r: (typeof rows)[number]) =>
        wide ? [String(r.throttle.qps), String(r.throttle.burst)] : [`${r.throttle.qps}/${r.throttle.burst}`];
      const now = Date.now();
      // Only where the receiver forwards: a sink without --url has no such columns to fill.
      const forwards = wide && rows.some((r) => r.forwarding !== undefined);
      const forwarding = (r: (typeof rows)[number]) => {
        if (!forwards) return [];
        const c = forwardingCells(r.forwarding ?? null);
        return [c.backlog, c.dropped, c.retries, c.lastError];
      };
      printTable(ctx.out, [
        [
          'NAME',
          'LEVEL',
          ...(wide ? ['POLICY'] : []),
          'STAGES',
          ...(wide ? ['QPS', 'BURST'] : ['QPS/BURST']),
          'TARGET',
          'EVENTS',
          'LAST EVENT',
          ...(forwards ? ['BACKLOG', 'DROPPED', 'RETRIES', 'LAST ERROR'] : []),
        ],
        ...rows.map((r) => [
          r.name,
          level(r),
          ...(wide ? [r.policy ?? '-'] : []),
          r.stages.join(',') || '-',
          ...throttle(r),
          r.target,
          String(r.events),
          lastEventCell(r.lastEvent, wide, now),
          ...forwarding(r),
        ]),
      ]);
    },
  });
  return 0;
}

export async function sinkDelete(o: SinkDeleteOptions, ctx: Context, given?: SinkDeps): Promise<number> {
  const deps = given ?? (await defaultDeps(ctx, o.name));
  const r = await deleteSink(o.sinkName, pathsFor(ctx, o.name), deps);
  ctx.out.line(
    `sink ${JSON.stringify(o.sinkName)} deleted${r.deferred ? `; ${describeDeferred(o.name, r.deferred)}` : ''}`,
  );
  ctx.out.line(`its ${r.events} stored events stay in ${r.file}`);
  return 0;
}
