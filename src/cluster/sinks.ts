/**
 * Sink changes against a lab and its cluster: one sink model, two back ends.
 * dynamic: each sink is a real AuditSink in the cluster, and <lab>/audit.yaml holds them all.
 * static: the sink lives in the lab state and the receiver applies it to what the API server
 * captured; the API server restarts only when its capture policy no longer covers every sink.
 *
 * `sink create` (sinkCreate.ts) and `sink delete` (here) decide from the lab what they change,
 * then run it as ordered steps (steps.ts), which their dry run describes. `sink list` is here too.
 */
import { rm } from 'node:fs/promises';
import { DEFAULT_SINK, type SinkSpec } from '../audit/model.js';
import { UserError } from '../errors.js';
import { type ForwardingState, forwardingOf } from '../daemon/forwarding.js';
import { clusterEverMade } from '../lab/deployed.js';
import { FALLBACK_NODE_HOST, sinkWebhook } from '../lab/endpoints.js';
import { writeFileAtomic } from '../lab/fsutil.js';
import { withLabLock } from '../lab/lock.js';
import { type LabPaths, nameFlag } from '../lab/paths.js';
import { loadPki } from '../lab/pki.js';
import type { SinkChange } from '../lab/sinks.js';
import { type LabState, labContext, noSuchLab, readState, type SinkState, writeState } from '../lab/state.js';
import { type AuditSinkInput, renderAuditSinks } from '../render/auditSinks.js';
import type { CapturePolicy } from '../render/policyFile.js';
import { sinkPolicyFile, streamFile } from '../streams/names.js';
import { countSinkEvents } from '../streams/stats.js';
import type { Tools } from '../tools/index.js';
import { type ClusterAuditSink, kubectlVerbs } from '../tools/kubectl.js';
import { ToolMissing } from '../tools/run.js';
import type { ApiserverTiming } from './apiserver.js';
import type { Provider } from './provider.js';
import { describeSteps, type PlannedStep, type Progress, runSteps, type Step, unlocked } from './steps.js';

export interface SinkDeps {
  tools: Tools;
  provider: Provider;
  timing: ApiserverTiming;
  progress: Progress;
}

/** What `sink create` is asked. */
export interface SinkCreateRequest {
  /** The lab. */
  name: string;
  /** The sink's name and the fields given (cli.ts normalizeSink). */
  sink: SinkChange;
  /** A policy file for the sink (static mode), instead of a level and stages. */
  policy?: string;
  dryRun: boolean;
}

export async function requireLab(paths: LabPaths): Promise<LabState> {
  const state = await readState(paths);
  if (!state) throw noSuchLab(paths);
  return state;
}

/** fn under the lab's lock, for a lab that exists: the lock would make the lab's directory first. */
export async function withExistingLab<T>(paths: LabPaths, command: string, fn: () => Promise<T>): Promise<T> {
  await requireLab(paths);
  return withLabLock(paths, command, fn);
}

function sinkNotFound(state: LabState, name: string): UserError {
  const names = state.sinks.map((s) => s.name);
  return new UserError(
    `there is no sink ${JSON.stringify(name)} in lab ${JSON.stringify(state.name)}`,
    names.length > 0 ? `its sinks: ${names.join(', ')}` : 'it has no sinks: create one with `audit-lab sink create`',
  );
}

/** What a sink looks like as an AuditSink: the receiver's endpoint for it, or its external URL. */
export function auditSinkInput(state: LabState, sink: SinkState, caPem: string): AuditSinkInput {
  return { ...sink, ...sinkWebhook(sink, state.receiver.host ?? FALLBACK_NODE_HOST, state.receiver.port, caPem) };
}

/** <lab>/audit.yaml: every sink of the lab as an AuditSink, as the cluster was last given them. */
export function writeAuditSinks(
  paths: LabPaths,
  state: LabState,
  sinks: readonly SinkState[],
  caPem: string,
): Promise<void> {
  const doc = renderAuditSinks(sinks.map((s) => auditSinkInput(state, s, caPem)));
  return writeFileAtomic(paths.auditSinks, doc, 0o600);
}

export function describeSink(s: SinkSpec & { policy?: string }): string {
  if (s.policy !== undefined) {
    return `policy ${s.policy} (at most ${s.level} at ${s.stages.join(', ')}), throttle ${s.throttle.qps}/${s.throttle.burst}${s.url ? `, to ${s.url}` : ''}`;
  }
  return `${s.level}${s.stages.length > 0 ? ` at ${s.stages.join(', ')}` : ''}, throttle ${s.throttle.qps}/${s.throttle.burst}${s.url ? `, to ${s.url}` : ''}`;
}

export function describeCapture(c: CapturePolicy): string {
  return `${c.level} at ${c.stages.join(', ')}`;
}

/**
 * A change the cluster must hear of, made while the lab has no cluster: saved, and `up` applies it
 * (dynamic: its sinks step applies the AuditSinks from the state; static: the policy is written
 * and restart-pending, or the new cluster, makes the API server load it). `why` says when the
 * cluster's absence is assumed rather than known.
 */
export interface Deferred {
  why: string | null;
}

/** The one line that says a change waits for `up`. */
export function describeDeferred(lab: string, d: Deferred): string {
  return `lab ${JSON.stringify(lab)} has no cluster running${d.why ? ` (${d.why})` : ''}: it applies at the next \`audit-lab up${nameFlag(lab)}\``;
}

/**
 * Whether the lab's cluster is there, asked once. A provider tool that is not installed counts as
 * no cluster, for sink changes only: `up` will need it anyway. For a lab `up` never made a cluster
 * for, that is known, not assumed.
 */
async function findCluster(provider: Provider, paths: LabPaths): Promise<Deferred | null> {
  try {
    return (await provider.clusters()).includes(paths.name) ? null : { why: null };
  } catch (err) {
    if (!(err instanceof ToolMissing)) throw err;
    return (await clusterEverMade(paths)) ? { why: `${err.tool} is not on PATH, so taken as none` } : { why: null };
  }
}

/** What every sink change's steps are given: the lab, and how to reach its cluster. */
export interface SinkStepInput {
  deps: Pick<SinkDeps, 'tools' | 'provider'>;
  paths: LabPaths;
}

/** What finding the cluster tells the steps after it: null when it runs, else why the change waits for `up`. */
export interface ClusterFact {
  absent: Deferred | null;
}

export const FIND_CLUSTER = 'find cluster';

/** Asks whether the lab's cluster runs; a dry run takes it to, as the change is for a lab that is up. */
export function findClusterStep<C extends SinkStepInput & ClusterFact>(
  when?: (c: Readonly<C>) => boolean,
): Step<C, ClusterFact> {
  return {
    title: FIND_CLUSTER,
    ...(when ? { when } : {}),
    describe: (c) => c.deps.provider.planned.clusters(),
    run: async (c) => ({ absent: await findCluster(c.deps.provider, c.paths) }),
    supposes: () => ({ absent: null }),
  };
}

export interface ListedSink {
  name: string;
  level: string;
  /** static mode: the policy the sink applies per request, as given to `sink create --policy`. */
  policy: string | null;
  stages: string[];
  throttle: { qps: number; burst: number };
  target: string;
  events: number;
  lastEvent: string | null;
  /** Only for a sink the receiver forwards (static mode, --url): its backlog and counts, null while no receiver reports them. */
  forwarding?: ForwardingState | null;
}

/** A sink as `sink list` shows it: the lab's, or one the cluster holds (any level it may hold). */
type ShownSink = Pick<ClusterAuditSink, 'name' | 'level' | 'stages' | 'url'> & { throttle: SinkSpec['throttle'] };

/** AuditSinks as the cluster has them (dynamic mode); null when it cannot be asked. */
async function clusterSinks(tools: Tools, context: string): Promise<ShownSink[] | null> {
  const items = await tools.kubectl(context).auditSinkList();
  // An AuditSink that sets no throttle gets the API server's defaults, which are the lab's.
  const { qps, burst } = DEFAULT_SINK.throttle;
  return (
    items?.map((i) => ({ ...i, throttle: { qps: i.throttle.qps ?? qps, burst: i.throttle.burst ?? burst } })) ?? null
  );
}

/** The lab's sinks with their stored events; in dynamic mode as the cluster has them, when it answers. */
export async function listSinks(
  paths: LabPaths,
  tools: Tools,
  progress: Pick<Progress, 'warn'>,
): Promise<{ state: LabState; source: 'cluster' | 'lab'; rows: ListedSink[] }> {
  const state = await requireLab(paths);
  let sinks: ShownSink[] = state.sinks;
  let source: 'cluster' | 'lab' = 'lab';
  if (state.mode === 'dynamic') {
    const fromCluster = await clusterSinks(tools, labContext(state));
    if (fromCluster) {
      sinks = fromCluster;
      source = 'cluster';
    } else {
      progress.warn(
        "could not read AuditSinks from the cluster (is it up? `audit-lab status`); showing the lab's record",
      );
    }
  }
  const rows: ListedSink[] = [];
  const forwarding = await forwardingOf(paths, state);
  for (const s of sinks) {
    const ours = state.sinks.find((x) => x.name === s.name);
    const stats = await countSinkEvents(paths.streamsDir, s.name);
    const receiver = ours !== undefined && (state.mode === 'static' || ours.url === undefined);
    const target =
      state.mode === 'static'
        ? s.url !== undefined
          ? `receiver + ${s.url}`
          : 'receiver'
        : receiver
          ? 'receiver'
          : (s.url ?? 'unknown');
    const f = forwarding(s.name);
    rows.push({
      name: s.name,
      level: s.level,
      policy: ours?.policy ?? null,
      stages: [...s.stages],
      throttle: { ...s.throttle },
      target,
      events: stats.events,
      lastEvent: stats.lastEvent,
      ...(f !== undefined ? { forwarding: f } : {}),
    });
  }
  return { state, source, rows };
}

/** What `sink delete` decided: the lab, the sink and the sinks left. */
interface DeleteInput extends SinkStepInput {
  state: LabState;
  sinkName: string;
  sinks: SinkState[];
}

type DeleteContext = DeleteInput & ClusterFact;

/** Dynamic mode only: its AuditSink leaves the cluster, when there is one. */
const inCluster = (c: Readonly<DeleteContext>) => c.state.mode === 'dynamic' && c.absent === null;

export const SINK_DELETE_STEPS: readonly Step<DeleteContext, ClusterFact>[] = [
  findClusterStep((c) => c.state.mode === 'dynamic'),
  {
    title: 'delete AuditSink',
    when: inCluster,
    describe: (c) => [
      { command: ['kubectl', ...kubectlVerbs.deleteAuditSink(c.deps.provider.context(c.paths.name), c.sinkName)] },
    ],
    async run(c) {
      await c.deps.tools.kubectl(c.deps.provider.context(c.paths.name)).deleteAuditSink(c.sinkName, {
        failMessage: `could not delete AuditSink ${JSON.stringify(c.sinkName)} from the cluster`,
        hint: 'is the cluster up? `audit-lab status` tells',
      });
    },
  },
  {
    title: 'audit.yaml',
    when: inCluster,
    describe: (c) => [{ file: c.paths.auditSinks }],
    async run(c) {
      const pki = await loadPki(c.paths.pkiDir, c.paths.name);
      if (pki) await writeAuditSinks(c.paths, c.state, c.sinks, pki.ca.cert);
    },
  },
  {
    title: 'save',
    describe: (c) => [{ file: c.paths.state }, { note: `remove ${sinkPolicyFile(c.paths, c.sinkName)} if there` }],
    async run(c) {
      await writeState(c.paths, { ...c.state, sinks: c.sinks, updatedAt: new Date().toISOString() });
      await rm(sinkPolicyFile(c.paths, c.sinkName), { force: true });
    },
  },
];

/** The sink to delete, refused when the lab has none of that name; its stream counted. */
async function decideDelete(
  sinkName: string,
  paths: LabPaths,
  deps: SinkStepInput['deps'],
): Promise<{ ctx: DeleteContext; events: number }> {
  const state = await requireLab(paths);
  if (!state.sinks.some((s) => s.name === sinkName)) throw sinkNotFound(state, sinkName);
  // Counted first: stream files it cannot read (a link, a FIFO) refuse the command before anything changes.
  const stats = await countSinkEvents(paths.streamsDir, sinkName);
  const sinks = state.sinks.filter((s) => s.name !== sinkName);
  return { ctx: { deps, paths, state, sinkName, sinks, absent: null }, events: stats.events };
}

/**
 * Removes a sink; its stored events stay. Dynamic mode: its AuditSink leaves the cluster, or with
 * no cluster, the change waits for `up` (as for create). Static mode: the capture still covers the
 * sinks left, so nothing restarts and no tool is asked.
 */
export async function deleteSink(
  sinkName: string,
  paths: LabPaths,
  deps: Pick<SinkDeps, 'tools' | 'provider' | 'progress'>,
): Promise<{ events: number; file: string; deferred: Deferred | null }> {
  return withExistingLab(paths, `sink delete ${sinkName}`, async () => {
    const { ctx, events } = await decideDelete(sinkName, paths, deps);
    await runSteps(SINK_DELETE_STEPS, ctx, deps.progress, unlocked);
    return { events, file: streamFile(paths.streamsDir, sinkName), deferred: ctx.absent };
  });
}

/** The steps `sink delete` would take, on a lab whose cluster runs; nothing is run or written. */
export async function planSinkDelete(
  sinkName: string,
  paths: LabPaths,
  deps: SinkStepInput['deps'],
): Promise<PlannedStep[]> {
  const { ctx } = await decideDelete(sinkName, paths, deps);
  return describeSteps(SINK_DELETE_STEPS, ctx);
}
