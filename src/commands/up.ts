/** `audit-lab up`: flags -> the steps in src/cluster/up.ts -> the summary, or --dry-run's plan. */
import { firstReceiverPort } from '../lab/state.js';
import { timingFromEnv } from '../cluster/apiserver.js';
import { kindProvider } from '../cluster/kind.js';
import { planUp, type UpDeps, upLab, type UpRequest, type UpResult } from '../cluster/up.js';
import { receiverControl } from '../daemon/control.js';
import { receiverUrl } from '../lab/endpoints.js';
import { type LabPaths, nameFlag } from '../lab/paths.js';
import { commandLine } from '../tools/run.js';
import { OutputProgress } from '../ui/progress.js';
import { type Context, pathsFor, verboseContext } from './context.js';
import { toolsFor } from './tools.js';

// --- options: what upCommand.ts parses the flags into ---
/** Flags left out are undefined: an existing lab keeps its values, a new one takes the defaults. */
export interface UpOptions extends UpRequest {
  dryRun: boolean;
  verbose: boolean;
}
// --- end options ---

export async function up(o: UpOptions, given: Context, deps: Partial<Omit<UpDeps, 'progress'>> = {}): Promise<number> {
  const paths = pathsFor(given, o.name);
  const ctx = verboseContext(given, o.verbose && !o.dryRun);
  const tools = deps.tools ?? toolsFor(ctx, o.verbose);
  const progress = new OutputProgress(ctx.out, o.verbose);
  const all: UpDeps = {
    tools,
    provider: deps.provider ?? kindProvider(tools),
    receiver: deps.receiver ?? (await receiverControl(ctx.io.env)),
    timing: deps.timing ?? timingFromEnv(ctx.io.env),
    progress,
    firstPort: firstReceiverPort(ctx.io.env),
  };
  if (o.dryRun) return dryRun(o, ctx, paths, all);
  try {
    printSummary(o, ctx, paths, all, await upLab(o, paths, all));
    return 0;
  } finally {
    progress.printTimes();
  }
}

function printSummary(o: UpOptions, ctx: Context, paths: LabPaths, deps: UpDeps, r: UpResult): void {
  const { state, receiver: st } = r;
  const labFlag = nameFlag(o.name);
  const context = deps.provider.context(o.name);
  const s = ctx.out.style;
  ctx.out.line(
    r.did.length === 0
      ? `lab ${JSON.stringify(o.name)} is up already; nothing to change.`
      : `lab ${JSON.stringify(o.name)} is up.`,
  );
  ctx.out.line(`  mode      ${state.mode}${r.serverVersion ? `, Kubernetes ${r.serverVersion}` : ''}`);
  ctx.out.line(`  cluster   ${o.name} (kubectl context ${context})`);
  ctx.out.line(
    `  receiver  ${st.url ?? receiverUrl(state.receiver.address, state.receiver.port)}${st.pid ? ` (pid ${st.pid})` : ''}, reached by the node at ${state.receiver.host}`,
  );
  ctx.out.line(
    `  sinks     ${state.sinks.length === 0 ? 'none' : state.sinks.map((k) => `${k.name} (${k.level}: ${k.stages.join(', ') || '-'})`).join('; ')}`,
  );
  ctx.out.line(`  lab       ${paths.dir}`);
  ctx.out.line('');
  ctx.out.line('next:');
  const steps: [string, string][] = [
    [`audit-lab tail${labFlag}`, 'watch the audit events as they come'],
    [`kubectl --context ${context} get pods -A`, 'make some'],
    [
      `audit-lab sink create full${labFlag} --level RequestResponse --stage ResponseComplete`,
      'a second sink, with bodies',
    ],
    [`audit-lab status${labFlag}`, 'cluster, receiver and event counts'],
    [`audit-lab down${labFlag}`, 'delete the cluster (events are kept)'],
  ];
  if (state.sinks.length === 0)
    steps.splice(0, 0, [
      `audit-lab sink create${labFlag} --level Metadata --stage ResponseComplete`,
      'no sink yet: make one',
    ]);
  const width = Math.max(...steps.map(([c]) => c.length));
  for (const [c, why] of steps) ctx.out.line(`  ${c.padEnd(width)}  ${s.dim(`# ${why}`)}`);
}

/** --dry-run: the files, then each step with the commands it would run; nothing run or written. */
async function dryRun(o: UpOptions, ctx: Context, paths: LabPaths, deps: UpDeps): Promise<number> {
  const plan = await planUp(o, paths, deps, ctx.io.env);
  for (const note of plan.notes) ctx.out.info(note);
  for (const { planned } of plan.steps) {
    for (const p of planned)
      if ('content' in p && p.content !== undefined) ctx.out.data(`# ==> ${p.file} <==\n${p.content}\n`);
  }
  ctx.out.line('# ==> commands <==');
  for (const { title, planned } of plan.steps) {
    ctx.out.line(`# ${title}`);
    for (const p of planned) {
      if ('command' in p) ctx.out.line(`$ ${commandLine(p.command)}`);
      else if ('file' in p) ctx.out.line(`#   write ${p.file}`);
      else ctx.out.line(`#   ${p.note}`);
    }
  }
  return 0;
}
