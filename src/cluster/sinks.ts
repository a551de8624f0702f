/**
 * Sink changes against a lab and its cluster: one sink model, two back ends.
 * dynamic: each sink is a real AuditSink in the cluster, and <lab>/audit.yaml holds them all.
 * static: the sink lives in the lab state and the receiver applies it to what the API server
 * captured; the API server restarts only when its capture policy no longer covers every sink.
 */
import { createHash } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import type { SinkSpec } from '../audit/model.js';
import { policyReach } from '../audit/policyEngine.js';
import { loadPolicy } from '../audit/policyLoader.js';
import { readPolicySource } from '../audit/presets.js';
import { RuntimeFailure, UserError } from '../errors.js';
import { type ForwardingState, forwardingOf } from '../daemon/forwarding.js';
import { clusterEverMade, deployedCapture, restartPending } from '../lab/deployed.js';
import { FALLBACK_NODE_HOST, sinkWebhook } from '../lab/endpoints.js';
import { ensurePrivateDir, writeFileAtomic } from '../lab/fsutil.js';
import { withLabLock } from '../lab/lock.js';
import { type LabPaths, nameFlag } from '../lab/paths.js';
import { sinkPolicyFile } from '../streams/names.js';
import { loadPki } from '../lab/pki.js';
import { mergeSink, type SinkChange, withSink } from '../lab/sinks.js';
import { type LabState, noSuchLab, readState, type SinkState, writeState } from '../lab/state.js';
import { type AuditSinkInput, auditSinkObject, renderAuditSinks } from '../render/auditSinks.js';
import { type CapturePolicy, captureFor, covers, renderPolicy } from '../render/policyFile.js';
import { countSinkEvents } from '../streams/stats.js';
import { streamFile } from '../streams/names.js';
import type { Tools } from '../tools/index.js';
import { kubectlArgs } from '../tools/kubectl.js';
import { ToolMissing } from '../tools/run.js';
import { type ApiserverTiming, restartApiserver } from './apiserver.js';
import type { Provider } from './provider.js';
import type { Progress } from './steps.js';

export interface SinkDeps {
  tools: Tools;
  provider: Provider;
  timing: ApiserverTiming;
  progress: Progress;
}

export async function requireLab(paths: LabPaths): Promise<LabState> {
  const state = await readState(paths);
  if (!state) throw noSuchLab(paths);
  return state;
}

/** fn under the lab's lock, for a lab that exists: the lock would make the lab's directory first. */
async function withExistingLab<T>(paths: LabPaths, command: string, fn: () => Promise<T>): Promise<T> {
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

/**
 * A sink's own audit Policy (static mode): loaded and validated as kube-apiserver would, and
 * turned into the level and stages the capture must cover.
 */
async function sinkPolicy(o: SinkCreateRequest, state: LabState, cwd: string): Promise<{ options: SinkChange; source: string; text: string; digest: string }> {
  if (state.mode === 'dynamic') {
    throw new UserError(
      '--policy: an AuditSink has only a level and stages, so dynamic mode cannot give a sink a full policy',
      'use --level and --stage, or a static-mode lab (`audit-lab up --mode static`)',
    );
  }
  if (o.given.has('level') || o.given.has('stages')) {
    throw new UserError('--policy decides the level and stages of each request: leave out --level and --stage', 'see `audit-lab policy test --help` to try a policy first');
  }
  const src = await readPolicySource(o.policy!, cwd);
  const reach = policyReach(loadPolicy(src.text, src.source));
  if (reach.level === 'None' || reach.stages.length === 0) {
    throw new UserError(`--policy ${src.source} logs nothing: every rule is level None or omits every stage`);
  }
  const given = new Set([...o.given, 'level', 'stages'] as const);
  return {
    options: { sink: { ...o.sink, level: reach.level, stages: reach.stages }, given },
    source: src.source,
    text: src.text,
    digest: createHash('sha256').update(src.text).digest('hex'),
  };
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

/** What `sink create` is asked. */
export interface SinkCreateRequest extends SinkChange {
  name: string;
  /** A policy file for the sink (static mode), instead of a level and stages. */
  policy?: string;
  dryRun: boolean;
}

const APPLY_STDIN = ['apply', '-f', '-'];

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

/** What an update changed, as `configured: level Metadata -> Request, ...` says it; empty when nothing. */
export function sinkChanges(before: SinkState, after: SinkState): string[] {
  const stages = (s: readonly string[]) => (s.length > 0 ? s.join(',') : '(none)');
  const out: string[] = [];
  const change = (what: string, a: string, b: string) => {
    if (a !== b) out.push(`${what} ${a} -> ${b}`);
  };
  change('policy', before.policy ?? '(none)', after.policy ?? '(none)');
  if (before.policy !== undefined && before.policy === after.policy && before.policyDigest !== after.policyDigest) out.push(`policy ${after.policy} (its rules changed)`);
  change('level', before.level, after.level);
  change('stages', stages(before.stages), stages(after.stages));
  change('qps', String(before.throttle.qps), String(after.throttle.qps));
  change('burst', String(before.throttle.burst), String(after.throttle.burst));
  change('url', before.url ?? '(none)', after.url ?? '(none)');
  return out;
}

/** How `sink create` ended for the sink itself, as `kubectl apply` says it. */
export type SinkVerb = 'created' | 'configured' | 'unchanged';

/** A sink create, decided (and with --dry-run, only that): what it does to the lab and the cluster. */
export type SinkCreation = {
  sink: SinkState;
  verb: SinkVerb;
  /** configured: what changed (sinkChanges). */
  changes: string[];
  paths: LabPaths;
  /** Set when the cluster needed the change and is not there: `up` applies it. */
  deferred: Deferred | null;
} & (
  | { mode: 'dynamic'; doc: string; command: string[] }
  | { mode: 'static'; deployed: CapturePolicy | null; wanted: CapturePolicy; covered: boolean; policy: string }
);

type Decided = Pick<SinkCreation, 'sink' | 'verb' | 'changes' | 'paths'>;

/** Adds or updates a sink. `saved` hears of it once the lab records it, before any API server restart. */
export async function createSink(o: SinkCreateRequest, paths: LabPaths, cwd: string, deps: SinkDeps, saved: (c: SinkCreation) => void = () => {}): Promise<SinkCreation> {
  const run = async (): Promise<SinkCreation> => {
    const state = await requireLab(paths);
    const existing = state.sinks.find((s) => s.name === o.sink.name);
    const policy = o.policy !== undefined ? await sinkPolicy(o, state, cwd) : null;
    const sink = policy ? { ...mergeSink(existing, policy.options), policy: policy.source, policyDigest: policy.digest } : mergeSink(existing, o);
    // A level or stages given without --policy turn a policy sink back into a plain one.
    if (!policy && (o.given.has('level') || o.given.has('stages'))) {
      delete sink.policy;
      delete sink.policyDigest;
    }
    if (policy && !o.dryRun) {
      await ensurePrivateDir(paths.policiesDir);
      await writeFileAtomic(sinkPolicyFile(paths, sink.name), policy.text, 0o600);
    }
    const sinks = withSink(state.sinks, sink);
    const changes = existing ? sinkChanges(existing, sink) : [];
    const decided: Decided = { sink, verb: !existing ? 'created' : changes.length > 0 ? 'configured' : 'unchanged', changes, paths };
    return state.mode === 'dynamic' ? createDynamic(o, deps, state, decided, sinks, saved) : createStatic(o, deps, state, decided, sinks, saved);
  };
  return o.dryRun ? run() : withExistingLab(paths, `sink create ${o.sink.name}`, run);
}

/** The lab's record, written only when it changed (the receiver reloads on every write). */
async function saveSinks(paths: LabPaths, state: LabState, sinks: SinkState[], verb: SinkVerb): Promise<void> {
  if (verb !== 'unchanged') await writeState(paths, { ...state, sinks, updatedAt: new Date().toISOString() });
}

async function createDynamic(o: SinkCreateRequest, deps: SinkDeps, state: LabState, d: Decided, sinks: SinkState[], saved: (c: SinkCreation) => void): Promise<SinkCreation> {
  const { paths, sink } = d;
  const pki = await loadPki(paths.pkiDir, paths.name);
  if (!pki) throw new RuntimeFailure(`the lab's certificates are missing from ${paths.pkiDir}`, 'run `audit-lab up` to make them again');
  const doc = stringify(auditSinkObject(auditSinkInput(state, sink, pki.ca.cert)), { lineWidth: 0 });
  const done: SinkCreation = { ...d, mode: 'dynamic', doc, command: ['kubectl', ...kubectlArgs(o.name, APPLY_STDIN)], deferred: null };
  if (o.dryRun) return done;
  const absent = await findCluster(deps.provider, paths);
  if (absent) {
    // audit.yaml stays what the cluster was last given: `up` renders it from the state, sees the
    // difference and applies it.
    await saveSinks(paths, state, sinks, d.verb);
    done.deferred = d.verb === 'unchanged' ? null : absent;
    saved(done);
    return done;
  }
  // Apply first: when the cluster refuses, the lab's record stays as it was.
  await deps.tools.kubectl(o.name).run(APPLY_STDIN, {
    input: doc,
    failMessage: `the cluster refused AuditSink ${JSON.stringify(sink.name)}`,
    hint: 'is the cluster up? `audit-lab status` tells; `audit-lab up` starts it',
  });
  await writeFileAtomic(paths.auditSinks, renderAuditSinks(sinks.map((s) => auditSinkInput(state, s, pki.ca.cert))), 0o600);
  await saveSinks(paths, state, sinks, d.verb);
  saved(done);
  return done;
}

async function createStatic(o: SinkCreateRequest, deps: SinkDeps, state: LabState, d: Decided, sinks: SinkState[], saved: (c: SinkCreation) => void): Promise<SinkCreation> {
  const { paths, sink } = d;
  const deployed = await deployedCapture(paths);
  const wanted = captureFor(sinks, state.capture);
  const covered = deployed !== null && sinks.every((s) => covers(deployed, s));
  const done: SinkCreation = { ...d, mode: 'static', deployed, wanted, covered, policy: renderPolicy(wanted), deferred: null };
  if (o.dryRun) return done;
  // Only a capture that no longer covers every sink needs the cluster: asked before anything is saved.
  const absent = covered ? null : await findCluster(deps.provider, paths);
  // Nothing of an unchanged sink waits for `up`: a capture behind the sinks is `up`'s to catch up on anyway.
  done.deferred = d.verb === 'unchanged' ? null : absent;
  await saveSinks(paths, state, sinks, d.verb);
  if (sink.policy === undefined) await rm(sinkPolicyFile(paths, sink.name), { force: true });
  saved(done);
  if (!covered) {
    await writeFile(restartPending(paths), `${new Date().toISOString()}\n`, { mode: 0o600 });
    // A lab made by `serve` alone has no API server files yet.
    await ensurePrivateDir(paths.apiserverDir);
    await writeFileAtomic(paths.policy, done.policy, 0o644);
    if (absent === null) {
      deps.progress.info(
        `the API server captures ${deployed ? describeCapture(deployed) : 'nothing audit-lab knows'}; it must capture ${describeCapture(wanted)}, so it restarts (after \`audit-lab up --capture full${nameFlag(o.name)}\` it captures everything, and no sink change restarts it)`,
      );
      const { tools, provider, progress, timing } = deps;
      await restartApiserver({ docker: tools.docker, kubectl: tools.kubectl(o.name), node: provider.node(o.name), progress, timing });
      await rm(restartPending(paths), { force: true });
    } else if (absent.why === null) {
      // Known to be absent: the cluster `up` makes starts with this policy, nothing to restart.
      await rm(restartPending(paths), { force: true });
    }
    // Otherwise (kind not on PATH) a cluster may yet be there: restart-pending makes `up` restart it.
  }
  return done;
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

/** AuditSinks as the cluster has them (dynamic mode); null when it cannot be asked. */
async function clusterSinks(tools: Tools, cluster: string): Promise<SinkSpec[] | null> {
  const r = await tools.kubectl(cluster).run(['get', 'auditsinks', '-o', 'json'], { allowFailure: true });
  if (r.exitCode !== 0) return null;
  try {
    const list = JSON.parse(r.stdout) as { items?: { metadata?: { name?: string }; spec?: any }[] };
    return (list.items ?? []).map((i) => ({
      name: String(i.metadata?.name ?? ''),
      level: i.spec?.policy?.level,
      stages: i.spec?.policy?.stages ?? [],
      throttle: { qps: i.spec?.webhook?.throttle?.qps ?? 10, burst: i.spec?.webhook?.throttle?.burst ?? 15 },
      ...(i.spec?.webhook?.clientConfig?.url ? { url: String(i.spec.webhook.clientConfig.url) } : {}),
    }));
  } catch {
    return null;
  }
}

/** The lab's sinks with their stored events; in dynamic mode as the cluster has them, when it answers. */
export async function listSinks(paths: LabPaths, tools: Tools, progress: Pick<Progress, 'warn'>): Promise<{ state: LabState; source: 'cluster' | 'lab'; rows: ListedSink[] }> {
  const state = await requireLab(paths);
  let sinks: SinkSpec[] = state.sinks;
  let source: 'cluster' | 'lab' = 'lab';
  if (state.mode === 'dynamic') {
    const fromCluster = await clusterSinks(tools, paths.name);
    if (fromCluster) {
      sinks = fromCluster;
      source = 'cluster';
    } else {
      progress.warn("could not read AuditSinks from the cluster (is it up? `audit-lab status`); showing the lab's record");
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
        ? s.url !== undefined ? `receiver + ${s.url}` : 'receiver'
        : receiver ? 'receiver' : (s.url ?? 'unknown');
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

/**
 * Removes a sink; its stored events stay. Dynamic mode: its AuditSink leaves the cluster, or with
 * no cluster, the change waits for `up` (as for create). Static mode: the capture still covers the
 * sinks left, so nothing restarts and no tool is asked.
 */
export async function deleteSink(sinkName: string, paths: LabPaths, deps: Pick<SinkDeps, 'tools' | 'provider'>): Promise<{ events: number; file: string; deferred: Deferred | null }> {
  return withExistingLab(paths, `sink delete ${sinkName}`, async () => {
    const state = await requireLab(paths);
    if (!state.sinks.some((s) => s.name === sinkName)) throw sinkNotFound(state, sinkName);
    // Counted first: stream files it cannot read (a link, a FIFO) refuse the command before anything changes.
    const stats = await countSinkEvents(paths.streamsDir, sinkName);
    const sinks = state.sinks.filter((s) => s.name !== sinkName);
    let deferred: Deferred | null = null;
    if (state.mode === 'dynamic') {
      deferred = await findCluster(deps.provider, paths);
      if (deferred === null) {
        await deps.tools.kubectl(paths.name).run(['delete', 'auditsink', sinkName, '--ignore-not-found'], {
          failMessage: `could not delete AuditSink ${JSON.stringify(sinkName)} from the cluster`,
          hint: 'is the cluster up? `audit-lab status` tells',
        });
        const pki = await loadPki(paths.pkiDir, paths.name);
        if (pki) await writeFileAtomic(paths.auditSinks, renderAuditSinks(sinks.map((s) => auditSinkInput(state, s, pki.ca.cert))), 0o600);
      }
    }
    await writeState(paths, { ...state, sinks, updatedAt: new Date().toISOString() });
    await rm(sinkPolicyFile(paths, sinkName), { force: true });
    return { events: stats.events, file: streamFile(paths.streamsDir, sinkName), deferred };
  });
}
