/** `audit-lab up`: flags -> the steps in src/cluster/up.ts -> the summary, or --dry-run's plan. */
import { resolve } from 'node:path';
import { UserError } from '../errors.js';
import { binaryContext, firstReceiverPort, type ProviderName, providerOf, readState } from '../lab/state.js';
import { firstControlPlanePort } from '../lab/ports.js';
import type { BinaryUpDeps } from '../cluster/binaryUp.js';
import type { PlannedStep } from '../cluster/steps.js';
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
  if ((await chooseProvider(o, paths)) === 'binary') {
    const binDir = o.binDir === undefined ? {} : { binDir: resolve(ctx.io.cwd, o.binDir) };
    return upBinary({ ...o, ...binDir }, ctx, paths, { ...deps, tools }, progress);
  }
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
    printSummary(
      o,
      ctx,
      paths,
      { context: all.provider.context(o.name), reachedBy: 'the node', tryIt: 'get pods -A' },
      await upLab(o, paths, all),
    );
    return 0;
  } finally {
    progress.printTimes();
  }
}

/**
 * kind or binary: as asked, else the lab's own; flags of the other provider are refused rather
 * than ignored, and so is a lab that one provider made asked of the other.
 */
async function chooseProvider(o: UpOptions, paths: LabPaths): Promise<ProviderName> {
  const before = await readState(paths).catch(() => null);
  const provider = o.provider ?? (before !== null ? providerOf(before) : 'kind');
  if (provider === 'kind') {
    if (before !== null && providerOf(before) === 'binary') {
      throw new UserError(
        `lab ${JSON.stringify(o.name)} runs its control plane as binaries, not with kind`,
        `leave --provider out (or give --provider binary) to keep it, or \`audit-lab down${nameFlag(o.name)} --purge\` first`,
      );
    }
    const binaryOnly =
      o.binDir !== undefined ? '--bin-dir' : o.kubernetesVersion !== undefined ? '--kubernetes-version' : null;
    if (binaryOnly !== null) {
      throw new UserError(`${binaryOnly} is for --provider binary`, 'with kind, --image chooses the version');
    }
  } else {
    const kindOnly = o.image !== undefined ? '--image' : o.kindConfigApi !== undefined ? '--kind-config-api' : null;
    if (kindOnly !== null) {
      throw new UserError(
        `${kindOnly} is for kind's nodes: --provider binary runs no node`,
        'choose the version with --kubernetes-version',
      );
    }
  }
  return provider;
}

async function upBinary(
  o: UpOptions,
  ctx: Context,
  paths: LabPaths,
  deps: Partial<Omit<UpDeps, 'progress'>> & { tools: UpDeps['tools'] },
  progress: OutputProgress,
): Promise<number> {
  const all: BinaryUpDeps = {
    tools: deps.tools,
    receiver: deps.receiver ?? (await receiverControl(ctx.io.env)),
    timing: deps.timing ?? timingFromEnv(ctx.io.env),
    progress,
    env: ctx.io.env,
    firstPort: firstReceiverPort(ctx.io.env),
    firstControlPlanePort: firstControlPlanePort(ctx.io.env),
  };
  const { planBinaryUp, upBinaryLab } = await import('../cluster/binaryUp.js');
  if (o.dryRun)
    return printPlan(ctx, [`dry run: nothing is run, written or downloaded.`], await planBinaryUp(o, paths, all));
  try {
    const r = await upBinaryLab(o, paths, all);
    printSummary(
      o,
      ctx,
      paths,
      { context: binaryContext(o.name), reachedBy: 'the API server', tryIt: 'get namespaces' },
      r,
    );
    return 0;
  } finally {
    progress.printTimes();
  }
}

/** How the summary names the cluster's context and what reaches the receiver. */
interface SummaryWords {
  context: string;
  reachedBy: string;
  /** A first kubectl command that makes events there. */
  tryIt: string;
}

function printSummary(o: UpOptions, ctx: Context, paths: LabPaths, words: SummaryWords, r: UpResult): void {
  const { state, receiver: st } = r;
  const labFlag = nameFlag(o.name);
  const context = words.context;
  const s = ctx.out.style;
  ctx.out.line(
    r.did.length === 0
      ? `lab ${JSON.stringify(o.name)} is up already; nothing to change.`
      : `lab ${JSON.stringify(o.name)} is up.`,
  );
  ctx.out.line(`  mode      ${state.mode}${r.serverVersion ? `, Kubernetes ${r.serverVersion}` : ''}`);
  ctx.out.line(`  cluster   ${o.name} (kubectl context ${context})`);
  ctx.out.line(
    `  receiver  ${st.url ?? receiverUrl(state.receiver.address, state.receiver.port)}${st.pid ? ` (pid ${st.pid})` : ''}, reached by ${words.reachedBy} at ${state.receiver.host}`,
  );
  ctx.out.line(
    `  sinks     ${state.sinks.length === 0 ? 'none' : state.sinks.map((k) => `${k.name} (${k.level}: ${k.stages.join(', ') || '-'})`).join('; ')}`,
  );
  ctx.out.line(`  lab       ${paths.dir}`);
  ctx.out.line('');
  ctx.out.line('next:');
  const steps: [string, string][] = [
    [`audit-lab tail${labFlag}`, 'watch the audit events as they come'],
    [`kubectl --context ${context} ${words.tryIt}`, 'make some'],
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
  return printPlan(ctx, plan.notes, plan.steps);
}

function printPlan(ctx: Context, notes: readonly string[], steps: readonly PlannedStep[]): number {
  for (const note of notes) ctx.out.info(note);
  for (const { planned } of steps) {
    for (const p of planned)
      if ('content' in p && p.content !== undefined) ctx.out.data(`# ==> ${p.file} <==\n${p.content}\n`);
  }
  ctx.out.line('# ==> commands <==');
  for (const { title, planned } of steps) {
    ctx.out.line(`# ${title}`);
    for (const p of planned) {
      if ('command' in p) ctx.out.line(`$ ${commandLine(p.command)}`);
      else if ('file' in p) ctx.out.line(`#   write ${p.file}`);
      else ctx.out.line(`#   ${p.note}`);
    }
  }
  return 0;
}
