/**
 * `sink create`: the change decided from the lab (the sink after applySinkChange, and what it
 * needs of the cluster), then made as ordered steps, which --dry-run describes instead.
 * dynamic: the AuditSink is applied, then audit.yaml and the lab's record follow it.
 * static: the lab's record, then a capture policy that covers every sink, restarting the API
 * server only when the one it runs with does not.
 */
import { createHash } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { policyReach } from '../audit/policyEngine.js';
import { loadPolicy } from '../audit/policyLoader.js';
import { readPolicySource } from '../audit/presets.js';
import { RuntimeFailure, UserError } from '../errors.js';
import { deployedCapture, restartPending } from '../lab/deployed.js';
import { ensurePrivateDir, writeFileAtomic } from '../lab/fsutil.js';
import { type LabPaths, nameFlag } from '../lab/paths.js';
import { loadPki } from '../lab/pki.js';
import { applySinkChange, type SinkChange, withSink } from '../lab/sinks.js';
import { type LabState, type SinkState, writeState } from '../lab/state.js';
import { auditSinkObject } from '../render/auditSinks.js';
import { type CapturePolicy, captureFor, covers, renderPolicy } from '../render/policyFile.js';
import { sinkPolicyFile } from '../streams/names.js';
import { kubectlVerbs } from '../tools/kubectl.js';
import {
  auditSinkInput,
  type ClusterFact,
  type Deferred,
  describeCapture,
  findClusterStep,
  requireLab,
  type SinkCreateRequest,
  type SinkDeps,
  type SinkStepInput,
  withExistingLab,
  writeAuditSinks,
} from './sinks.js';
import { describeSteps, type PlannedStep, runSteps, type Step, unlocked } from './steps.js';

/**
 * A sink's own audit Policy (static mode): loaded and validated as kube-apiserver would, and
 * turned into the level and stages the capture must cover.
 */
async function sinkPolicy(
  o: SinkCreateRequest,
  state: LabState,
  cwd: string,
): Promise<{ change: SinkChange; text: string }> {
  if (state.mode === 'dynamic') {
    throw new UserError(
      '--policy: an AuditSink has only a level and stages, so dynamic mode cannot give a sink a full policy',
      'use --level and --stage, or a static-mode lab (`audit-lab up --mode static`)',
    );
  }
  if (o.sink.level !== undefined || o.sink.stages !== undefined) {
    throw new UserError(
      '--policy decides the level and stages of each request: leave out --level and --stage',
      'see `audit-lab policy test --help` to try a policy first',
    );
  }
  const src = await readPolicySource(o.policy!, cwd);
  const reach = policyReach(loadPolicy(src.text, src.source));
  if (reach.level === 'None' || reach.stages.length === 0) {
    throw new UserError(`--policy ${src.source} logs nothing: every rule is level None or omits every stage`);
  }
  const digest = createHash('sha256').update(src.text).digest('hex');
  const change: SinkChange = {
    ...o.sink,
    level: reach.level,
    stages: reach.stages,
    policy: { source: src.source, digest },
  };
  return { change, text: src.text };
}

/** What an update changed, as `configured: level Metadata -> Request, ...` says it; empty when nothing. */
export function sinkChanges(before: SinkState, after: SinkState): string[] {
  const stages = (s: readonly string[]) => (s.length > 0 ? s.join(',') : '(none)');
  const out: string[] = [];
  const change = (what: string, a: string, b: string) => {
    if (a !== b) out.push(`${what} ${a} -> ${b}`);
  };
  change('policy', before.policy ?? '(none)', after.policy ?? '(none)');
  if (before.policy !== undefined && before.policy === after.policy && before.policyDigest !== after.policyDigest)
    out.push(`policy ${after.policy} (its rules changed)`);
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
  | { mode: 'dynamic'; doc: string }
  | { mode: 'static'; deployed: CapturePolicy | null; wanted: CapturePolicy; covered: boolean; policy: string }
);

/** What the steps of one `sink create` are given: the decision and what it was made from. */
interface CreateInput extends SinkStepInput {
  timing: SinkDeps['timing'];
  progress: SinkDeps['progress'];
  creation: SinkCreation;
  state: LabState;
  /** The lab's sinks after the change. */
  sinks: SinkState[];
  /** --policy: the policy's text, copied into the lab. */
  policyText: string | null;
  /** dynamic: the lab CA, which audit.yaml's AuditSinks trust. */
  caPem: string | null;
  /** Hears of the change once the lab records it, before any API server restart. */
  saved: (c: SinkCreation) => void;
}

/** What the steps find: whether the cluster runs, and so whether the change waits for `up`. */
interface CreateFacts extends ClusterFact {
  deferred: Deferred | null;
}

type CreateContext = CreateInput & CreateFacts;
type CreateStep = Step<CreateContext, CreateFacts>;

/**
 * The lab's record, written only when it changed (the receiver reloads on every write), then
 * `more`, then the listener told. Nothing of an unchanged sink waits for `up`: a capture behind the
 * sinks is `up`'s to catch up on anyway.
 */
const saveStep = (more: (c: Readonly<CreateContext>) => Promise<void> = async () => {}): CreateStep => ({
  title: 'save',
  describe: (c) => (c.creation.verb === 'unchanged' ? [] : [{ file: c.paths.state }]),
  async run(c) {
    const { creation: d, paths } = c;
    if (d.verb !== 'unchanged') {
      await writeState(paths, { ...c.state, sinks: c.sinks, updatedAt: new Date().toISOString() });
    }
    await more(c);
    const deferred = d.verb === 'unchanged' ? null : c.absent;
    c.saved({ ...d, deferred });
    return { deferred };
  },
});

// Apply first: when the cluster refuses, the lab's record stays as it was. With no cluster,
// audit.yaml stays what the cluster was last given: `up` renders it from the state, sees the
// difference and applies it.
const DYNAMIC_STEPS: readonly CreateStep[] = [
  findClusterStep<CreateContext>(),
  {
    title: 'apply AuditSink',
    when: (c) => c.absent === null,
    describe: (c) => [
      { command: ['kubectl', ...kubectlVerbs.applyStdin(c.deps.provider.context(c.paths.name))] },
      { note: 'with the AuditSink above on stdin' },
    ],
    async run(c) {
      if (c.creation.mode !== 'dynamic') return;
      await c.deps.tools.kubectl(c.deps.provider.context(c.paths.name)).applyStdin(c.creation.doc, {
        failMessage: `the cluster refused AuditSink ${JSON.stringify(c.creation.sink.name)}`,
        hint: 'is the cluster up? `audit-lab status` tells; `audit-lab up` starts it',
      });
    },
  },
  {
    title: 'audit.yaml',
    when: (c) => c.absent === null,
    describe: (c) => [{ file: c.paths.auditSinks }],
    run: (c) => writeAuditSinks(c.paths, c.state, c.sinks, c.caPem!),
  },
  saveStep(),
];

const widens = (c: Readonly<CreateContext>) => c.creation.mode === 'static' && !c.creation.covered;

const STATIC_STEPS: readonly CreateStep[] = [
  {
    title: 'sink policy',
    when: (c) => c.policyText !== null,
    describe: (c) => [{ file: sinkPolicyFile(c.paths, c.creation.sink.name) }],
    async run(c) {
      await ensurePrivateDir(c.paths.policiesDir);
      await writeFileAtomic(sinkPolicyFile(c.paths, c.creation.sink.name), c.policyText!, 0o600);
    },
  },
  // Only a capture that no longer covers every sink needs the cluster: asked before anything is saved.
  findClusterStep<CreateContext>(widens),
  saveStep(async (c) => {
    if (c.creation.sink.policy === undefined) await rm(sinkPolicyFile(c.paths, c.creation.sink.name), { force: true });
  }),
  {
    title: 'capture policy',
    when: widens,
    describe: (c) => [{ file: restartPending(c.paths) }, { file: c.paths.policy }],
    async run(c) {
      if (c.creation.mode !== 'static') return;
      await writeFile(restartPending(c.paths), `${new Date().toISOString()}\n`, { mode: 0o600 });
      // A lab made by `serve` alone has no API server files yet.
      await ensurePrivateDir(c.paths.apiserverDir);
      await writeFileAtomic(c.paths.policy, c.creation.policy, 0o644);
    },
  },
  {
    title: 'restart API server',
    when: (c) => widens(c) && c.absent === null,
    describe: (c) => [
      ...c.deps.provider.describeRestart(c.paths.name, c.timing),
      { note: `remove ${restartPending(c.paths)}` },
    ],
    async run(c) {
      if (c.creation.mode !== 'static') return;
      const { deployed, wanted } = c.creation;
      const lab = c.paths.name;
      c.progress.info(
        `the API server captures ${deployed ? describeCapture(deployed) : 'nothing audit-lab knows'}; it must capture ${describeCapture(wanted)}, so it restarts (after \`audit-lab up --capture full${nameFlag(lab)}\` it captures everything, and no sink change restarts it)`,
      );
      await c.deps.provider.restartApiserver({ cluster: lab, progress: c.progress, timing: c.timing });
      await rm(restartPending(c.paths), { force: true });
    },
  },
  {
    // Known to be absent: the cluster `up` makes starts with this policy, nothing to restart.
    // Otherwise (kind not on PATH) a cluster may yet be there: restart-pending makes `up` restart it.
    title: 'no restart',
    when: (c) => widens(c) && c.absent !== null && c.absent.why === null,
    describe: (c) => [{ note: `remove ${restartPending(c.paths)}` }],
    run: (c) => rm(restartPending(c.paths), { force: true }),
  },
];

/** The change, decided from the lab: nothing is written. */
async function decideCreate(
  o: SinkCreateRequest,
  paths: LabPaths,
  cwd: string,
  deps: SinkDeps,
  saved: CreateInput['saved'],
): Promise<CreateContext> {
  const state = await requireLab(paths);
  const existing = state.sinks.find((s) => s.name === o.sink.name);
  const policy = o.policy !== undefined ? await sinkPolicy(o, state, cwd) : null;
  const sink = applySinkChange(existing, policy?.change ?? o.sink);
  const sinks = withSink(state.sinks, sink);
  const changes = existing ? sinkChanges(existing, sink) : [];
  const verb: SinkVerb = !existing ? 'created' : changes.length > 0 ? 'configured' : 'unchanged';
  const base = { sink, verb, changes, paths, deferred: null };
  const input = {
    deps,
    timing: deps.timing,
    progress: deps.progress,
    paths,
    state,
    sinks,
    saved,
    policyText: policy?.text ?? null,
    absent: null,
    deferred: null,
  };
  if (state.mode === 'dynamic') {
    const pki = await loadPki(paths.pkiDir, paths.name);
    if (!pki)
      throw new RuntimeFailure(
        `the lab's certificates are missing from ${paths.pkiDir}`,
        'run `audit-lab up` to make them again',
      );
    const doc = stringify(auditSinkObject(auditSinkInput(state, sink, pki.ca.cert)), { lineWidth: 0 });
    return { ...input, caPem: pki.ca.cert, creation: { ...base, mode: 'dynamic', doc } };
  }
  const deployed = await deployedCapture(paths);
  const wanted = captureFor(sinks, state.capture);
  const covered = deployed !== null && sinks.every((s) => covers(deployed, s));
  const creation: SinkCreation = { ...base, mode: 'static', deployed, wanted, covered, policy: renderPolicy(wanted) };
  return { ...input, caPem: null, creation };
}

const stepsFor = (c: CreateContext) => (c.creation.mode === 'dynamic' ? DYNAMIC_STEPS : STATIC_STEPS);

/** Adds or updates a sink. `saved` hears of it once the lab records it, before any API server restart. */
export async function createSink(
  o: SinkCreateRequest,
  paths: LabPaths,
  cwd: string,
  deps: SinkDeps,
  saved: (c: SinkCreation) => void = () => {},
): Promise<SinkCreation> {
  return withExistingLab(paths, `sink create ${o.sink.name}`, async () => {
    const c = await decideCreate(o, paths, cwd, deps, saved);
    await runSteps(stepsFor(c), c, deps.progress, unlocked);
    return { ...c.creation, deferred: c.deferred };
  });
}

/** --dry-run: the change decided, and the steps it would take on a lab whose cluster runs. Nothing is run or written. */
export async function planSinkCreate(
  o: SinkCreateRequest,
  paths: LabPaths,
  cwd: string,
  deps: SinkDeps,
): Promise<{ creation: SinkCreation; steps: PlannedStep[] }> {
  const c = await decideCreate(o, paths, cwd, deps, () => {});
  return { creation: c.creation, steps: describeSteps(stepsFor(c), c) };
}
