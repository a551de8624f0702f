/**
 * `sink create | list | delete`: one sink model, two back ends (DESIGN.md, "Sinks").
 * dynamic: each sink is a real AuditSink in the cluster, and <lab>/audit.yaml holds them all.
 * static: the sink lives in the lab state and the receiver applies it to what the API server
 * captured; the API server restarts only when its capture policy no longer covers every sink.
 */
import { createHash } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { checkSink, type SinkSpec } from '../audit/model.js';
import { policyReach } from '../audit/policyEngine.js';
import { loadPolicy } from '../audit/policyLoader.js';
import { readPolicySource } from '../audit/presets.js';
import { RuntimeFailure, UserError } from '../errors.js';
import { ensurePrivateDir, writeFileAtomic } from '../lab/fsutil.js';
import { withLabLock } from '../lab/lock.js';
import type { LabPaths } from '../lab/paths.js';
import { deployedCapture, restartPending } from '../lab/deployed.js';
import { type LabState, newSinkState, readState, type SinkState, writeState } from '../lab/state.js';
import { FALLBACK_NODE_HOST, sinkWebhook } from '../lab/endpoints.js';
import { loadPki } from '../lab/pki.js';
import { countSinkEvents } from '../streams/stats.js';
import { sinkPolicyFile, streamFile } from '../streams/names.js';
import { type AuditSinkInput, auditSinkObject, renderAuditSinks } from '../render/auditSinks.js';
import { type CapturePolicy, captureFor, covers, renderPolicy } from '../render/policyFile.js';
import { type ApiserverTiming, restartApiserver, timingFromEnv } from '../cluster/apiserver.js';
import { makeTools, type Tools } from '../tools/index.js';
import { commandLine, createRunner } from '../tools/run.js';
import { tableLines } from '../ui/table.js';
import { type Context, pathsFor } from './context.js';
import type { SinkCreateOptions, SinkDeleteOptions, SinkListOptions } from './options.js';

export interface SinkDeps {
  tools: Tools;
  timing: ApiserverTiming;
}

function defaultDeps(ctx: Context): SinkDeps {
  return { tools: makeTools(createRunner(ctx.io.env)), timing: timingFromEnv(ctx.io.env) };
}


async function requireLab(paths: LabPaths): Promise<LabState> {
  const state = await readState(paths);
  if (!state) {
    throw new UserError(
      `there is no lab ${JSON.stringify(paths.name)} (${paths.dir})`,
      `create it with \`audit-lab up${paths.name === 'audit-lab' ? '' : ` --name ${paths.name}`}\``,
    );
  }
  return state;
}

function sinkNotFound(state: LabState, name: string): UserError {
  const names = state.sinks.map((s) => s.name);
  return new UserError(
    `there is no sink ${JSON.stringify(name)} in lab ${JSON.stringify(state.name)}`,
    names.length > 0 ? `its sinks: ${names.join(', ')}` : 'it has no sinks: create one with `audit-lab sink create`',
  );
}

/** The sink after an update: fields not given on the command line keep their values. */
export function mergeSink(existing: SinkState | undefined, o: Pick<SinkCreateOptions, 'sink' | 'given'>): SinkState {
  if (!existing) return newSinkState(o.sink);
  const next: SinkState = { ...existing, throttle: { ...existing.throttle } };
  if (o.given.has('level')) next.level = o.sink.level;
  if (o.given.has('stages')) next.stages = [...o.sink.stages];
  else if (o.given.has('level') && o.sink.level === 'None') next.stages = [];
  else if (o.given.has('level') && next.stages.length === 0) next.stages = [...o.sink.stages];
  if (o.given.has('qps')) next.throttle.qps = o.sink.throttle.qps;
  if (o.given.has('burst')) next.throttle.burst = o.sink.throttle.burst;
  if (o.given.has('url')) next.url = o.sink.url;
  checkSink(next);
  return next;
}

export function withSink(sinks: readonly SinkState[], sink: SinkState): SinkState[] {
  const i = sinks.findIndex((s) => s.name === sink.name);
  return i >= 0 ? sinks.map((s, j) => (j === i ? sink : s)) : [...sinks, sink];
}

/** What a sink looks like as an AuditSink: the receiver's endpoint for it, or its external URL. */
export function auditSinkInput(state: LabState, sink: SinkState, caPem: string): AuditSinkInput {
  return { ...sink, ...sinkWebhook(sink, state.receiver.host ?? FALLBACK_NODE_HOST, state.receiver.port, caPem) };
}

/**
 * A sink's own audit Policy (static mode): loaded and validated as kube-apiserver would, and
 * turned into the level and stages the capture must cover.
 */
async function sinkPolicy(
  o: SinkCreateOptions,
  state: LabState,
  ctx: Context,
): Promise<{ options: Pick<SinkCreateOptions, 'sink' | 'given'>; source: string; text: string; digest: string }> {
  if (state.mode === 'dynamic') {
    throw new UserError(
      '--policy: an AuditSink has only a level and stages, so dynamic mode cannot give a sink a full policy',
      'use --level and --stage, or a static-mode lab (`audit-lab up --mode static`)',
    );
  }
  if (o.given.has('level') || o.given.has('stages')) {
    throw new UserError('--policy decides the level and stages of each request: leave out --level and --stage', 'see `audit-lab policy test --help` to try a policy first');
  }
  const src = await readPolicySource(o.policy!, ctx.io.cwd);
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

function describeSink(s: SinkSpec & { policy?: string }): string {
  if (s.policy !== undefined) {
    return `policy ${s.policy} (at most ${s.level} at ${s.stages.join(', ')}), throttle ${s.throttle.qps}/${s.throttle.burst}${s.url ? `, to ${s.url}` : ''}`;
  }
  return `${s.level}${s.stages.length > 0 ? ` at ${s.stages.join(', ')}` : ''}, throttle ${s.throttle.qps}/${s.throttle.burst}${s.url ? `, to ${s.url}` : ''}`;
}

function describeCapture(c: CapturePolicy): string {
  return `${c.level} at ${c.stages.join(', ')}`;
}

async function clusterExists(tools: Tools, name: string): Promise<boolean> {
  return (await tools.kind.clusters()).includes(name);
}

export async function sinkCreate(o: SinkCreateOptions, ctx: Context, deps: SinkDeps = defaultDeps(ctx)): Promise<number> {
  const paths = pathsFor(ctx, o.name);
  const run = async () => {
    const state = await requireLab(paths);
    const existing = state.sinks.find((s) => s.name === o.sink.name);
    const policy = o.policy !== undefined ? await sinkPolicy(o, state, ctx) : null;
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
    const verb = existing ? 'updated' : 'created';
    const plan: CreatePlan = { o, ctx, deps, paths, state, sink, sinks, verb };
    return state.mode === 'dynamic' ? createDynamic(plan) : createStatic(plan);
  };
  return o.dryRun ? run() : withLabLock(paths, `sink create ${o.sink.name}`, run);
}

/** A sink create, decided: the sink as it will be and the lab's sinks with it. */
interface CreatePlan {
  o: SinkCreateOptions;
  ctx: Context;
  deps: SinkDeps;
  paths: LabPaths;
  state: LabState;
  sink: SinkState;
  sinks: SinkState[];
  verb: 'created' | 'updated';
}

async function createDynamic({ o, ctx, deps, paths, state, sink, sinks, verb }: CreatePlan): Promise<number> {
  const pki = await loadPki(paths.pkiDir, paths.name);
  if (!pki) throw new RuntimeFailure(`the lab's certificates are missing from ${paths.pkiDir}`, 'run `audit-lab up` to make them again');
  const kubectl = deps.tools.kubectl(o.name);
  const doc = stringify(auditSinkObject(auditSinkInput(state, sink, pki.ca.cert)), { lineWidth: 0 });
  if (o.dryRun) {
    ctx.out.data(doc);
    ctx.out.info(`dry run: would apply it with \`${commandLine(['kubectl', '--context', `kind-${o.name}`, 'apply', '-f', '-'])}\` and add it to ${paths.auditSinks}`);
    return 0;
  }
  // Apply first: when the cluster refuses, the lab's record stays as it was.
  await kubectl.run(['apply', '-f', '-'], {
    input: doc,
    failMessage: `the cluster refused AuditSink ${JSON.stringify(sink.name)}`,
    hint: 'is the cluster up? `audit-lab status` tells; `audit-lab up` starts it',
  });
  await writeFileAtomic(paths.auditSinks, renderAuditSinks(sinks.map((s) => auditSinkInput(state, s, pki.ca.cert))), 0o600);
  await writeState(paths, { ...state, sinks, updatedAt: new Date().toISOString() });
  ctx.out.line(`sink ${JSON.stringify(sink.name)} ${verb}: AuditSink, ${describeSink(sink)}`);
  printNext(ctx, o.name, sink);
  return 0;
}

async function createStatic({ o, ctx, deps, paths, state, sink, sinks, verb }: CreatePlan): Promise<number> {
  const deployed = await deployedCapture(paths);
  const wanted = captureFor(sinks, state.capture);
  const covered = deployed !== null && sinks.every((s) => covers(deployed, s));
  if (o.dryRun) {
    ctx.out.data(`# sink ${JSON.stringify(sink.name)} (static mode): ${describeSink(sink)}\n`);
    if (covered) {
      ctx.out.data(`# the API server captures ${describeCapture(deployed)}, which covers it: no restart, policy.yaml unchanged\n`);
    } else {
      ctx.out.data(
        `# ${deployed ? `the API server captures ${describeCapture(deployed)}, which does not cover it` : 'no capture policy is in force yet'}:\n` +
          `# ${paths.policy} would become this, and the API server would restart:\n${renderPolicy(wanted)}`,
      );
    }
    return 0;
  }
  await writeState(paths, { ...state, sinks, updatedAt: new Date().toISOString() });
  if (sink.policy === undefined) await rm(sinkPolicyFile(paths, sink.name), { force: true });
  ctx.out.line(`sink ${JSON.stringify(sink.name)} ${verb}: ${describeSink(sink)}`);
  if (!covered) {
    await writeFile(restartPending(paths), `${new Date().toISOString()}\n`, { mode: 0o600 });
    // A lab made by `serve` alone has no API server files yet.
    await ensurePrivateDir(paths.apiserverDir);
    await writeFileAtomic(paths.policy, renderPolicy(wanted), 0o644);
    if (await clusterExists(deps.tools, o.name)) {
      ctx.out.info(`the API server captures ${deployed ? describeCapture(deployed) : 'nothing audit-lab knows'}; it must capture ${describeCapture(wanted)}`);
      await restartApiserver({ docker: deps.tools.docker, kubectl: deps.tools.kubectl(o.name), out: ctx.out, timing: deps.timing });
    } else {
      ctx.out.info(`the cluster is not running: the new capture (${describeCapture(wanted)}) takes effect with \`audit-lab up\``);
    }
    await rm(restartPending(paths), { force: true });
  }
  printNext(ctx, o.name, sink);
  return 0;
}

function printNext(ctx: Context, lab: string, sink: SinkSpec): void {
  const name = lab === 'audit-lab' ? '' : ` --name ${lab}`;
  ctx.out.line(`next: audit-lab tail --sink ${sink.name}${name}`);
}

interface ListedSink {
  name: string;
  level: string;
  /** static mode: the policy the sink applies per request, as given to `sink create --policy`. */
  policy: string | null;
  stages: string[];
  throttle: { qps: number; burst: number };
  target: string;
  events: number;
  lastEvent: string | null;
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

export async function sinkList(o: SinkListOptions, ctx: Context, deps: SinkDeps = defaultDeps(ctx)): Promise<number> {
  const paths = pathsFor(ctx, o.name);
  const state = await requireLab(paths);
  let sinks: SinkSpec[] = state.sinks;
  let source: 'cluster' | 'lab' = 'lab';
  if (state.mode === 'dynamic') {
    const fromCluster = await clusterSinks(deps.tools, o.name);
    if (fromCluster) {
      sinks = fromCluster;
      source = 'cluster';
    } else {
      ctx.out.warn("could not read AuditSinks from the cluster (is it up? `audit-lab status`); showing the lab's record");
    }
  }
  const rows: ListedSink[] = [];
  for (const s of sinks) {
    const ours = state.sinks.find((x) => x.name === s.name);
    const stats = await countSinkEvents(paths.streamsDir, s.name);
    const receiver = ours !== undefined && (state.mode === 'static' || ours.url === undefined);
    const target =
      state.mode === 'static'
        ? s.url !== undefined ? `receiver + ${s.url}` : 'receiver'
        : receiver ? 'receiver' : (s.url ?? 'unknown');
    rows.push({ name: s.name, level: s.level, policy: ours?.policy ?? null, stages: [...s.stages], throttle: { ...s.throttle }, target, events: stats.events, lastEvent: stats.lastEvent });
  }
  if (o.json) {
    ctx.out.data(`${JSON.stringify({ lab: o.name, mode: state.mode, source, sinks: rows }, null, 2)}\n`);
    return 0;
  }
  if (rows.length === 0) {
    ctx.out.line('no sinks: create one with `audit-lab sink create --level Metadata --stage ResponseComplete`');
    return 0;
  }
  const lines = tableLines([
    ['NAME', 'LEVEL', 'STAGES', 'QPS/BURST', 'TARGET', 'EVENTS', 'LAST EVENT'],
    ...rows.map((r) => [r.name, r.policy !== null ? `${r.policy} (≤${r.level})` : r.level, r.stages.join(',') || '-', `${r.throttle.qps}/${r.throttle.burst}`, r.target, String(r.events), r.lastEvent ?? '-']),
  ]);
  lines.forEach((line, i) => ctx.out.line(i === 0 ? ctx.out.style.bold(line) : line));
  return 0;
}

export async function sinkDelete(o: SinkDeleteOptions, ctx: Context, deps: SinkDeps = defaultDeps(ctx)): Promise<number> {
  const paths = pathsFor(ctx, o.name);
  return withLabLock(paths, `sink delete ${o.sinkName}`, async () => {
    const state = await requireLab(paths);
    const sink = state.sinks.find((s) => s.name === o.sinkName);
    if (!sink) throw sinkNotFound(state, o.sinkName);
    const sinks = state.sinks.filter((s) => s.name !== o.sinkName);
    if (state.mode === 'dynamic') {
      await deps.tools.kubectl(o.name).run(['delete', 'auditsink', o.sinkName, '--ignore-not-found'], {
        failMessage: `could not delete AuditSink ${JSON.stringify(o.sinkName)} from the cluster`,
        hint: 'is the cluster up? `audit-lab status` tells',
      });
      const pki = await loadPki(paths.pkiDir, paths.name);
      if (pki) await writeFileAtomic(paths.auditSinks, renderAuditSinks(sinks.map((s) => auditSinkInput(state, s, pki.ca.cert))), 0o600);
    }
    // static: the capture still covers the sinks that are left, so the API server is not restarted.
    await writeState(paths, { ...state, sinks, updatedAt: new Date().toISOString() });
    await rm(sinkPolicyFile(paths, o.sinkName), { force: true });
    const stats = await countSinkEvents(paths.streamsDir, o.sinkName);
    ctx.out.line(`sink ${JSON.stringify(o.sinkName)} deleted; its ${stats.events} stored events stay in ${streamFile(paths.streamsDir, o.sinkName)}`);
    return 0;
  });
}
