/**
 * `up` as ordered steps: checks, cluster, lab files, receiver, proof that the node reaches the
 * receiver, sinks. Idempotent: each step looks at what is there and does only what is missing, so
 * a second `up` on a healthy lab changes nothing and an `up` after a failure finishes the job.
 * `up --dry-run` describes the same steps (planUp).
 */
import { rm } from 'node:fs/promises';
import { RuntimeFailure, ToolError, UserError } from '../errors.js';
import { type ReceiverControl, sameListener } from '../daemon/control.js';
import type { ReceiverStatus } from '../daemon/daemon.js';
import { restartPending } from '../lab/deployed.js';
import { FALLBACK_NODE_HOST, HEALTH_PATH, receiverUrl } from '../lab/endpoints.js';
import { type CgroupVersion, dockerCgroup, localCgroup } from '../lab/host.js';
import { withLabLock } from '../lab/lock.js';
import { DEFAULT_LAB_NAME, type LabPaths, nameFlag } from '../lab/paths.js';
import { type LabPki, loadPki } from '../lab/pki.js';
import { createPki, defaultServerNames } from '../lab/pkiIssuer.js';
import { refuseLabSymlinks } from '../lab/safety.js';
import { type LabState, readState } from '../lab/state.js';
import { type DockerInfo, dockerArgs } from '../tools/docker.js';
import type { Tools } from '../tools/index.js';
import { kubectlVerbs } from '../tools/kubectl.js';
import {
  type ApiserverDeps,
  type ApiserverTiming,
  describeRestart,
  describeWait,
  MANIFEST,
  MANIFEST_ASIDE,
  manifestWired,
  recoverApiserverManifest,
  restartApiserver,
  waitForApiserver,
} from './apiserver.js';
import { checkCommands, checkPort, DYNAMIC_KIND_VERSION, runChecks } from './checks.js';
import type { CreateCluster, NodeProvider, Reach } from './provider.js';
import { describeSteps, type PlannedStep, type Planned, type Progress, runSteps, type Step, task } from './steps.js';
import {
  describeShape,
  filePath,
  type LabFiles,
  NO_FILES_CHANGED,
  renderFor,
  shapeChanges,
  type UpRequest,
  upState,
  withPort,
  type WriteLab,
  writeLab,
} from './upLab.js';

export { describeShape, filePath, planOptions, type UpRequest, upState } from './upLab.js';

export interface UpDeps {
  tools: Tools;
  provider: NodeProvider;
  receiver: ReceiverControl;
  timing: ApiserverTiming;
  progress: Progress;
  /** Where a new lab looks for a free receiver port from (firstReceiverPort of the run's environment). */
  firstPort?: number;
}

const recover = (name: string) =>
  `run \`audit-lab up${nameFlag(name)}\` again to finish (it keeps what is done), or \`audit-lab down${nameFlag(name)}\` to remove what was made`;

function withRecoveryHint(err: unknown, name: string): unknown {
  if (err instanceof ToolError && err.hint === undefined)
    return new ToolError(err.message, err.command, err.output, `fix the cause above, then ${recover(name)}`);
  if (err instanceof RuntimeFailure && err.hint === undefined) return new RuntimeFailure(err.message, recover(name));
  return err;
}

/** What one `up` is given: the request, where the lab is, and (--dry-run) the certificates shown. */
interface UpInput extends UpDeps {
  o: UpRequest;
  paths: LabPaths;
  node: string;
  /** The lab's state when up began (the checks read it). */
  before: LabState | null;
  /** What this run changed, for the summary ("up already" when empty); steps add to it. */
  did: string[];
  /** --dry-run: the certificates the files are shown with. */
  pki: LabPki | null;
}

/** What the steps find and make, each the input of the steps after it. */
export interface UpFacts {
  /** The lab's state as read under the lock. */
  existing: LabState | null;
  /** The state up makes: planned from the flags, then where the node reaches the receiver. */
  state: LabState;
  docker: DockerInfo | null;
  kindVersion: string | null;
  /** The cgroup version Docker's host runs: it decides the kubelet patch. */
  hostCgroup: CgroupVersion | null;
  exists: boolean;
  created: boolean;
  reach: Reach | null;
  /** The reach was learned only after the cluster was made (its files were rewritten). */
  learned: boolean;
  files: LabFiles;
  restart: boolean;
  serverVersion: string | null;
  receiverStatus: ReceiverStatus | null;
}

export type UpContext = UpInput & UpFacts;

/** Where the node reaches the receiver before `up` learned it: the files name the Docker Desktop host. */
const PLACEHOLDER_HOST = '<gateway>';

function apiDeps(c: UpContext): ApiserverDeps {
  return {
    docker: c.tools.docker,
    kubectl: c.tools.kubectl(c.provider.context(c.o.name)),
    cluster: c.o.name,
    node: c.node,
    progress: c.progress,
    timing: c.timing,
  };
}

async function portOrThrow(c: UpContext, state: LabState): Promise<void> {
  const f = await checkPort(c.paths, c.receiver, state.receiver.address, state.receiver.port);
  if (f.status === 'fail') throw new RuntimeFailure(f.message, f.fix);
}

const writing = (c: Readonly<UpContext>): WriteLab => ({
  paths: c.paths,
  hostCgroup: c.hostCgroup,
  progress: c.progress,
  capture: c.o.capture,
  did: c.did,
});

type C = Readonly<UpContext>;
type UpStep = Step<UpContext, UpFacts>;

const createArgs = (c: C): CreateCluster => ({ name: c.o.name, config: c.paths.kindConfig, image: c.state.image });
const CAT_MANIFEST = ['cat', MANIFEST];
const curl = (c: C) => [
  'curl',
  '-fsSk',
  '-m',
  '5',
  receiverUrl(c.state.receiver.host!, c.state.receiver.port, HEALTH_PATH),
];
const exec = (c: C, argv: readonly string[]): Planned => ({ command: ['docker', ...dockerArgs.exec(c.node, argv)] });

/** What starting the lab's receiver reads and adds to, in either provider's `up`. */
export interface ReceiverStepContext {
  receiver: ReceiverControl;
  paths: LabPaths;
  state: LabState;
  files: LabFiles;
  did: string[];
  progress: Progress;
}

/** Starts the receiver, or restarts it when it listens elsewhere, has an old certificate or does not answer. */
export function receiverStep<T extends F & ReceiverStepContext, F extends object>(
  when: (c: Readonly<T>) => boolean,
): Step<T, F> {
  return {
    title: 'receiver',
    when,
    describe: (c) => [
      { note: `start the receiver in the background on ${c.state.receiver.address}:${c.state.receiver.port}` },
    ],
    async run(c) {
      const st = await c.receiver.status(c.paths);
      const { address, port } = c.state.receiver;
      if (st.running && (!sameListener(st.url, address, port) || c.files.certChanged || st.healthy === false)) {
        await c.receiver.stop(c.paths);
        c.did.push('restarted the receiver');
      }
      const r = await c.receiver.ensure(c.paths);
      if (r.started) {
        c.progress.info(`receiver listening on ${r.url} (pid ${r.pid})`);
        if (!c.did.includes('restarted the receiver')) c.did.push('started the receiver');
      }
    },
  };
}

const checks: UpStep = {
  title: 'checks',
  describe: () => checkCommands().map((command) => ({ command })),
  async run(c) {
    const report = await runChecks({
      tools: c.tools,
      paths: c.paths,
      receiver: c.receiver,
      state: c.before,
      mode: c.state.mode,
      image: c.state.image,
      skipPort: true,
    });
    c.progress.findings(report.findings);
    if (!report.ok) {
      const n = report.findings.filter((f) => f.status === 'fail').length;
      throw new RuntimeFailure(
        `cannot bring the lab up: ${n} check${n === 1 ? '' : 's'} failed (above)`,
        `fix what they name, then run \`audit-lab up${nameFlag(c.o.name)}\` again; \`audit-lab doctor\` checks everything`,
      );
    }
    const docker = report.facts.docker!;
    const reach = c.provider.knownReach(docker);
    return { docker, kindVersion: report.facts.kindVersion, hostCgroup: dockerCgroup(docker), reach };
  },
};

/** The lab's state and files for the cluster found, written; a cluster up did not make, or made otherwise, refused. */
const labFiles: UpStep = {
  title: 'lab files',
  locked: true,
  describe: (c) => [
    { file: c.paths.state },
    { note: `make the PKI in ${c.paths.pkiDir} when missing` },
    ...renderFor(c, c.state, c.pki!, c.reach?.host ?? null).map((f) => ({
      file: filePath(c.paths, f),
      content: f.content,
    })),
  ],
  async run(c) {
    const { o, existing } = c;
    if (c.exists && existing === null) {
      throw new RuntimeFailure(
        `a ${c.provider.name} cluster named ${JSON.stringify(o.name)} already exists, but lab ${JSON.stringify(o.name)} has no state: audit-lab did not make it (or the lab was purged)`,
        `use another name (\`audit-lab up --name ${o.name === DEFAULT_LAB_NAME ? 'audit-lab-2' : `${o.name}-2`}\`), or \`audit-lab up${nameFlag(o.name)} --recreate\` to delete that cluster and start over`,
      );
    }
    const state = upState(await withPort(o, existing, c.paths, c.firstPort), existing);
    const changes = existing === null ? [] : shapeChanges(existing, state);
    if (c.exists && changes.length > 0) {
      throw new UserError(
        `lab ${JSON.stringify(o.name)}'s cluster was made with what this up changes (${changes.join(', ')}): that needs a new cluster`,
        'add --recreate to delete the cluster and make it again (events and sinks are kept)',
      );
    }
    if (c.reach !== null) state.receiver.address = c.reach.address;
    state.receiver.host = c.reach?.host ?? null;
    if (c.reach !== null) await portOrThrow(c, state);
    return { state, files: await writeLab(writing(c), existing, state, state.receiver.host) };
  },
};

const createCluster: UpStep = {
  title: 'create cluster',
  locked: true,
  when: (c) => !c.exists,
  describe: (c) => [{ command: c.provider.argv.create(createArgs(c)) }],
  async run(c) {
    const { o, state, progress } = c;
    const note = await c.provider.cgroupV1Note({
      image: state.image,
      api: state.kindConfigApi,
      hostCgroup: c.hostCgroup,
    });
    if (note !== null) progress.info(note);
    const hint =
      `the output above is ${c.provider.name}'s; fix its cause, then ${recover(o.name)}` +
      (state.mode === 'dynamic' && c.kindVersion !== DYNAMIC_KIND_VERSION
        ? `. Dynamic mode's node images are tied to old kind releases: try kind v${DYNAMIC_KIND_VERSION} on a cgroup v1 host, or --mode static`
        : '');
    const onLine = (line: string) => {
      progress.toolLine(line);
      const text = c.provider.progressText(line);
      if (text !== '') progress.update(text);
    };
    await task(
      progress,
      `creating cluster ${o.name} (${describeShape(state)})`,
      () =>
        c.provider.create(createArgs(c), {
          onLine,
          failMessage: `${c.provider.name} could not create cluster ${JSON.stringify(o.name)}`,
          hint,
        }),
      `created cluster ${o.name}`,
    );
    // A new API server starts with the files as they are: no restart is pending for it.
    await rm(restartPending(c.paths), { force: true });
    c.did.push('created the cluster');
  },
  makes: { created: true },
};

/**
 * The files named a placeholder host: rewritten with the one learned, which the API server
 * (static mode) reads only at start.
 */
const learnGateway: UpStep = {
  title: 'learn gateway',
  locked: true,
  when: (c) => c.created && c.reach === null,
  describe: (c) => [
    { command: c.provider.argv.findReach() },
    {
      note: `rewrite ${c.state.mode === 'static' ? 'webhook.kubeconfig' : 'audit.yaml'} for the address found (${PLACEHOLDER_HOST} below)`,
    },
  ],
  async run(c) {
    const reach = await c.provider.findReach();
    if (reach === null) throw c.provider.reachMissing(c.o.name);
    c.progress.info(c.provider.describeReach(reach));
    const state: LabState = { ...c.state, receiver: { ...c.state.receiver, host: reach.host, address: reach.address } };
    await portOrThrow(c, state);
    const files = await writeLab(writing(c), c.state, state, reach.host);
    return { state, reach, files, restart: state.mode === 'static' && files.apiserverFilesChanged };
  },
  makes: { learned: true },
  supposes: (c) => ({
    reach: { host: PLACEHOLDER_HOST, address: PLACEHOLDER_HOST },
    state: { ...c.state, receiver: { ...c.state.receiver, host: PLACEHOLDER_HOST, address: PLACEHOLDER_HOST } },
    restart: c.state.mode === 'static',
  }),
};

/** A cluster that is there already must be one `up` made for this mode, with its API server in place. */
const checkCluster: UpStep = {
  title: 'check cluster',
  locked: true,
  when: (c) => !c.created,
  describe: (c) => [
    { command: ['docker', ...dockerArgs.containerState(c.node)] },
    exec(c, ['test', '-e', MANIFEST_ASIDE]),
    exec(c, CAT_MANIFEST),
  ],
  async run(c) {
    const { docker } = c.tools;
    if ((await docker.containerState(c.node)) !== 'running') {
      throw new RuntimeFailure(
        `cluster ${JSON.stringify(c.o.name)} exists but its node container ${c.node} is not running`,
        `start it with \`docker start ${c.node}\`, or start over with \`audit-lab up${nameFlag(c.o.name)} --recreate\``,
      );
    }
    if (await recoverApiserverManifest(docker, c.node)) {
      c.progress.info('put back the API server manifest an interrupted restart had moved aside');
      c.did.push('restored the API server manifest');
    }
    const manifest = await docker.exec(c.node, CAT_MANIFEST, { allowFailure: true });
    if (manifest.exitCode === 0 && !manifestWired(manifest.stdout, c.state.mode)) {
      throw new RuntimeFailure(
        `cluster ${JSON.stringify(c.o.name)}'s API server does not run with audit-lab's ${c.state.mode}-mode flags`,
        `start over with \`audit-lab up${nameFlag(c.o.name)} --recreate\` (events and sinks are kept)`,
      );
    }
    return { restart: c.state.mode === 'static' && c.files.apiserverFilesChanged };
  },
};

/** The node fetches the receiver's /healthz: address, port, routing and firewall all proven at once. */
const nodeReachesReceiver: UpStep = {
  title: 'node reaches receiver',
  locked: true,
  describe: (c) => [exec(c, curl(c))],
  async run(c) {
    let last = '';
    for (let i = 0; i < 5; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, c.timing.pollMs));
      const r = await c.tools.docker.exec(c.node, curl(c), { allowFailure: true, timeoutMs: 20_000 });
      if (r.exitCode === 0) return;
      last = r.output;
      if (/executable file not found|not found/.test(r.output) && r.exitCode === 127) break;
    }
    const { address, port, host } = c.state.receiver;
    throw new ToolError(
      `the cluster's node cannot reach the receiver at ${receiverUrl(host!, port, HEALTH_PATH)}`,
      ['docker', ...dockerArgs.exec(c.node, curl(c))],
      last,
      `the receiver listens on ${address}:${port}; a firewall on this machine may drop traffic from ` +
        `${c.provider.nodeNetwork} to that port (allow it), then run \`audit-lab up${nameFlag(c.o.name)}\` again; \`audit-lab status${nameFlag(c.o.name)}\` shows the receiver`,
    );
  },
};

/** Dynamic mode: the lab's sinks as AuditSink objects, applied when missing or changed. */
const sinks: UpStep = {
  title: 'sinks',
  locked: true,
  when: (c) => c.state.mode === 'dynamic' && c.state.sinks.length > 0,
  describe: (c) => [
    ...(c.files.auditSinksChanged || c.created
      ? []
      : [{ command: ['kubectl', ...kubectlVerbs.auditSinks(c.provider.context(c.o.name))] }]),
    { command: ['kubectl', ...kubectlVerbs.apply(c.provider.context(c.o.name), c.paths.auditSinks)] },
  ],
  async run(c) {
    const kubectl = c.tools.kubectl(c.provider.context(c.o.name));
    const { sinks } = c.state;
    if (!c.files.auditSinksChanged && !c.created) {
      const have = await kubectl.auditSinks();
      if (have !== null && sinks.every((s) => have.includes(s.name))) return;
    }
    await kubectl.apply(c.paths.auditSinks);
    c.did.push(`applied AuditSink${sinks.length === 1 ? '' : 's'} ${sinks.map((s) => s.name).join(', ')}`);
  },
};

export const UP_STEPS: readonly UpStep[] = [
  checks,
  {
    title: 'find cluster',
    locked: true,
    describe: (c) => [{ command: c.provider.argv.clusters() }],
    run: async (c) => {
      const existing = await readState(c.paths);
      return { existing, exists: (await c.provider.clusters()).includes(c.o.name) };
    },
  },
  {
    title: 'delete cluster',
    locked: true,
    when: (c) => c.exists && c.o.recreate,
    describe: (c) => [{ command: c.provider.argv.delete(c.o.name) }],
    async run(c) {
      await task(c.progress, `deleting cluster ${c.o.name}`, async () => {
        await c.receiver.stop(c.paths);
        await c.provider.delete(c.o.name);
      });
      c.did.push('deleted the old cluster');
    },
    makes: { exists: false },
  },
  {
    // How the node reaches this machine when the provider does not know it outright: on Linux the
    // kind network's gateway, which exists only once kind has made the network (the first cluster).
    title: 'find kind network',
    locked: true,
    when: (c) => c.reach === null,
    describe: (c) => [{ command: c.provider.argv.findReach() }],
    run: async (c) => ({ reach: await c.provider.findReach() }),
    supposes: (c) => {
      const { host, address } = c.state.receiver;
      return { reach: host !== null ? { host, address } : null };
    },
  },
  labFiles,
  receiverStep<UpContext, UpFacts>((c) => c.reach !== null),
  createCluster,
  learnGateway,
  receiverStep<UpContext, UpFacts>((c) => c.learned),
  checkCluster,
  {
    title: 'restart API server',
    locked: true,
    when: (c) => c.restart,
    describe: (c) => describeRestart(c.node, c.provider.context(c.o.name), c.timing),
    async run(c) {
      await restartApiserver(apiDeps(c));
      await rm(restartPending(c.paths), { force: true });
      c.did.push('restarted the API server');
    },
  },
  {
    title: 'API server ready',
    locked: true,
    when: (c) => !c.restart,
    describe: (c) => describeWait(c.provider.context(c.o.name)),
    run: (c) => waitForApiserver(apiDeps(c)),
  },
  nodeReachesReceiver,
  sinks,
  {
    title: 'summary',
    locked: true,
    describe: (c) => [{ command: ['kubectl', ...kubectlVerbs.version(c.provider.context(c.o.name))] }],
    run: async (c) => ({
      serverVersion:
        (await c.tools.kubectl(c.provider.context(c.o.name)).serverVersion()) ??
        (c.state.kubernetesVersion ? `v${c.state.kubernetesVersion}` : null),
      receiverStatus: await c.receiver.status(c.paths),
    }),
  },
];

function context(o: UpRequest, paths: LabPaths, deps: UpDeps, before: LabState | null, state: LabState): UpContext {
  return {
    ...deps,
    o,
    paths,
    node: deps.provider.node(o.name),
    before,
    did: [],
    pki: null,
    existing: before,
    state,
    docker: null,
    kindVersion: null,
    hostCgroup: null,
    exists: false,
    created: false,
    reach: null,
    learned: false,
    files: NO_FILES_CHANGED,
    restart: false,
    serverVersion: null,
    receiverStatus: null,
  };
}

export interface UpResult {
  state: LabState;
  did: string[];
  /** The cluster's Kubernetes version, as it says or the lab recorded. */
  serverVersion: string | null;
  receiver: ReceiverStatus;
}

export async function upLab(o: UpRequest, paths: LabPaths, deps: UpDeps): Promise<UpResult> {
  // Before anything is written through a link (see src/lab/safety.ts).
  await refuseLabSymlinks(paths);
  const before = await readState(paths);
  const c = context(o, paths, deps, before, upState(o, before));
  // The lock is held while up changes the lab, and let go while the receiver starts: the
  // receiver (`audit-lab serve` in the background) takes it itself to read the lab. The checks
  // run outside it too: they change nothing, and a missing tool should not leave a lab behind.
  try {
    await runSteps(UP_STEPS, c, deps.progress, (fn) => withLabLock(paths, 'up', fn));
  } catch (err) {
    throw withRecoveryHint(err, o.name);
  }
  return { state: c.state, did: c.did, serverVersion: c.serverVersion, receiver: c.receiverStatus! };
}

export interface UpPlan {
  state: LabState;
  /** Said before the steps: what the plan assumes. */
  notes: string[];
  steps: PlannedStep[];
}

/**
 * --dry-run: the steps up would take for a lab with no cluster yet (or one --recreate deletes),
 * on Linux: nothing is run or written. Certificates a new lab would make are made in memory.
 */
export async function planUp(o: UpRequest, paths: LabPaths, deps: UpDeps, env: NodeJS.ProcessEnv): Promise<UpPlan> {
  const existing = await readState(paths);
  const state = upState(await withPort(o, existing, paths, deps.firstPort), existing);
  const c = context(o, paths, deps, existing, state);
  c.exists = o.recreate;
  c.hostCgroup = await localCgroup(env);
  c.pki =
    (existing ? await loadPki(paths.pkiDir, paths.name) : null) ??
    (await createPki(o.name, defaultServerNames([state.receiver.host ?? FALLBACK_NODE_HOST])));
  const notes = [`dry run: nothing is run or written. ${describeShape(state)}.`];
  const cgroup = await deps.provider.cgroupV1Note({
    image: state.image,
    api: state.kindConfigApi,
    hostCgroup: c.hostCgroup,
  });
  if (cgroup !== null) notes.push(cgroup);
  if (state.receiver.host === null) {
    notes.push(
      `note: the receiver is addressed as ${FALLBACK_NODE_HOST} here; on Linux up learns the gateway of ${deps.provider.nodeNetwork} (${PLACEHOLDER_HOST} below) and uses that`,
    );
  }
  return { state, notes, steps: describeSteps(UP_STEPS, c) };
}
