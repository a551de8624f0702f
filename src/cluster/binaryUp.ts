/**
 * `up --provider binary` as ordered steps: the binaries (found, or downloaded and checked), the lab's
 * files and the control plane's certificates, the receiver, then etcd, kube-apiserver,
 * kube-controller-manager and kube-scheduler as local processes, a kubeconfig context, the sinks.
 * Idempotent as kind's `up` (up.ts): a second run finds each process running with the flags it
 * should have and changes nothing. `--dry-run` describes the same steps (planBinaryUp).
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { RuntimeFailure, UserError } from '../errors.js';
import {
  type Binaries,
  COMPONENTS,
  DEFAULT_BINARY_VERSION,
  findBinaries,
  normalizeVersion,
  planBinaries,
} from '../controlplane/binaries.js';
import { START_ORDER, type Component } from '../controlplane/components.js';
import { controlPlaneFiles, ensureControlPlanePki } from '../controlplane/pki.js';
import type { ReceiverControl } from '../daemon/control.js';
import type { ReceiverStatus } from '../daemon/daemon.js';
import { restartPending } from '../lab/deployed.js';
import { withLabLock } from '../lab/lock.js';
import { type LabPaths, nameFlag } from '../lab/paths.js';
import { pickControlPlanePorts } from '../lab/ports.js';
import { refuseLabSymlinks } from '../lab/safety.js';
import { binaryContext, type LabState, providerOf, readState } from '../lab/state.js';
import type { Tools } from '../tools/index.js';
import { kubeconfigArgs, kubectlVerbs } from '../tools/kubectl.js';
import type { ApiserverTiming } from './apiserver.js';
import { LOOPBACK, removeKubeContext } from './binary.js';
import { componentArgv, ensureComponent, type Plane, stopPlane } from './binaryPlane.js';
import { checkPort } from './checks.js';
import { describeSteps, type PlannedStep, type Progress, runSteps, type Step, task } from './steps.js';
import { receiverStep, type UpResult } from './up.js';
import { type LabFiles, NO_FILES_CHANGED, type UpRequest, upState, withPort, writeLab } from './upLab.js';

export interface BinaryUpDeps {
  tools: Tools;
  receiver: ReceiverControl;
  timing: ApiserverTiming;
  progress: Progress;
  env: NodeJS.ProcessEnv;
  firstPort?: number;
  /** Where a new lab looks for its control plane's ports from. */
  firstControlPlanePort?: number;
}

interface Input extends BinaryUpDeps {
  o: UpRequest;
  paths: LabPaths;
  before: LabState | null;
  did: string[];
}

interface Facts {
  binaries: Binaries | null;
  state: LabState;
  files: LabFiles;
  serverVersion: string | null;
  receiverStatus: ReceiverStatus | null;
}

type Ctx = Input & Facts;
type BinaryStep = Step<Ctx, Facts>;

const v = (version: string | null | undefined) => (version == null ? null : normalizeVersion(version));

/** The version a new lab without --kubernetes-version downloads for `--mode dynamic`: the last with AuditSinks. */
export const DEFAULT_DYNAMIC_BINARY_VERSION = 'v1.18.19';

/** What findBinaries is asked: the flags, else what the lab used last time. */
function binariesQuery(c: Readonly<Pick<Ctx, 'o' | 'before' | 'env'>>) {
  const binDir = c.o.binDir ?? c.before?.binary?.binDir ?? null;
  const dynamic = c.o.mode === 'dynamic' && binDir === null ? DEFAULT_DYNAMIC_BINARY_VERSION : null;
  return { version: v(c.o.kubernetesVersion ?? c.before?.kubernetesVersion ?? dynamic), binDir, env: c.env };
}

function plane(c: Readonly<Ctx>): Plane {
  return { paths: c.paths, state: c.state, binaries: c.binaries!, files: controlPlaneFiles(c.paths.dir) };
}

const apiserverUrl = (state: LabState) => `https://${LOOPBACK}:${state.binary!.ports.apiserver}`;

function progressText(file: string, received: number, total: number | null): string {
  const mb = (n: number) => `${(n / 1_048_576).toFixed(1)} MB`;
  if (total === null || total <= 0) return `downloading ${file}: ${mb(received)}`;
  const width = 20;
  const done = Math.min(width, Math.round((received / total) * width));
  return `downloading ${file} [${'#'.repeat(done)}${'.'.repeat(width - done)}] ${mb(received)} / ${mb(total)}`;
}

const binariesStep: BinaryStep = {
  title: 'binaries',
  describe(c) {
    const plan = planBinaries(binariesQuery(c));
    if (plan.downloads.length === 0) return [{ note: `use etcd and the Kubernetes binaries in ${plan.dir}` }];
    return plan.downloads.map((d) => ({ note: `download ${d.url} to ${plan.dir}, checked against ${d.checksumUrl}` }));
  },
  async run(c) {
    const binaries = await task(c.progress, 'finding the control plane binaries', () =>
      findBinaries({
        ...binariesQuery(c),
        onProgress: (p) => c.progress.update(progressText(p.file, p.received, p.total)),
      }),
    );
    if (binaries.source === 'download') c.did.push(`downloaded Kubernetes ${binaries.version} to ${binaries.dir}`);
    return { binaries };
  },
  supposes(c) {
    const dir = planBinaries(binariesQuery(c)).dir;
    const version = binariesQuery(c).version ?? DEFAULT_BINARY_VERSION;
    const path = Object.fromEntries(COMPONENTS.map((k) => [k, join(dir, k)])) as Binaries['path'];
    return { binaries: { version, etcdVersion: null, dir, path, source: 'cache' } };
  },
};

/** A lab kind runs is not taken over, nor a version changed under etcd's data without --recreate. */
function refuseOtherLab(c: Readonly<Ctx>, existing: LabState | null): void {
  if (existing === null) return;
  const name = c.o.name;
  if (providerOf(existing) !== 'binary') {
    throw new UserError(
      `lab ${JSON.stringify(name)} runs its cluster with kind, not as binaries`,
      `leave --provider out to keep kind, use another name (\`audit-lab up --provider binary --name ${name}-bin\`), or \`audit-lab down${nameFlag(name)} --purge\` first`,
    );
  }
  const version = c.binaries!.version.replace(/^v/, '');
  if (existing.kubernetesVersion !== version && !c.o.recreate) {
    throw new UserError(
      `lab ${JSON.stringify(name)}'s control plane is Kubernetes ${existing.kubernetesVersion}; these binaries are ${version}, and its etcd data is not for them`,
      `add --recreate to start its cluster over with ${version} (events and sinks are kept)`,
    );
  }
}

const recreate: BinaryStep = {
  title: 'delete cluster',
  locked: true,
  when: (c) => c.o.recreate && c.before !== null,
  describe: (c) => [
    { note: 'stop the control plane processes' },
    { note: `remove ${controlPlaneFiles(c.paths.dir).etcdData}` },
  ],
  async run(c) {
    await task(c.progress, `deleting cluster ${c.o.name}`, async () => {
      await stopPlane(c.paths);
      await rm(controlPlaneFiles(c.paths.dir).etcdData, { recursive: true, force: true });
      await removeKubeContext(c.tools, c.o.name);
    });
    c.did.push('deleted the old cluster');
  },
};

const labFiles: BinaryStep = {
  title: 'lab files',
  locked: true,
  describe: (c) => [
    { file: c.paths.state },
    { note: `make the PKI in ${c.paths.pkiDir} and ${controlPlaneFiles(c.paths.dir).pkiDir} when missing` },
    ...(c.state.mode === 'static'
      ? [{ file: c.paths.policy }, { file: c.paths.webhookKubeconfig }]
      : [{ file: c.paths.auditSinks }]),
  ],
  async run(c) {
    const existing = await readState(c.paths);
    refuseOtherLab(c, existing);
    const keepPorts = existing?.binary !== undefined && !c.o.recreate;
    const ports = keepPorts
      ? existing.binary!.ports
      : await pickControlPlanePorts(c.paths.home, c.paths.name, c.firstControlPlanePort);
    const binDir = c.o.binDir ?? existing?.binary?.binDir ?? null;
    const request: UpRequest = { ...c.o, provider: 'binary', kubernetesVersion: c.binaries!.version.replace(/^v/, '') };
    const state = upState(await withPort(request, existing, c.paths, c.firstPort), existing);
    state.binary = { binDir, ports };
    state.receiver = { ...state.receiver, address: LOOPBACK, host: LOOPBACK };
    const port = await checkPort(c.paths, c.receiver, LOOPBACK, state.receiver.port);
    if (port.status === 'fail') throw new RuntimeFailure(port.message, port.fix ?? '');
    const writing = { paths: c.paths, hostCgroup: null, progress: c.progress, capture: c.o.capture, did: c.did };
    const files = await writeLab(writing, existing, state, LOOPBACK);
    const made = await ensureControlPlanePki(controlPlaneFiles(c.paths.dir), c.paths.name, apiserverUrl(state));
    if (made.length > 0) c.did.push(`made the control plane's ${made.join(', ')}`);
    return { state, files };
  },
};

function componentStep(k: Component): BinaryStep {
  return {
    title: k,
    locked: true,
    describe: (c) => [{ command: componentArgv(k, plane(c)) }, { note: `wait until ${k} is ready` }],
    async run(c) {
      // The API server reads its policy and webhook config only at start.
      const restart = k === 'kube-apiserver' && c.files.apiserverFilesChanged;
      const result = await task(c.progress, `${k}`, () =>
        ensureComponent(k, plane(c), { restart, timeoutMs: c.timing.readyTimeoutMs }),
      );
      if (result !== 'running') c.did.push(`${result} ${k}`);
      if (k === 'kube-apiserver') await rm(restartPending(c.paths), { force: true });
    },
  };
}

const kubeContextStep: BinaryStep = {
  title: 'kubeconfig context',
  locked: true,
  describe: (c) => contextArgv(c).map((argv) => ({ command: ['kubectl', ...argv] })),
  async run(c) {
    const name = binaryContext(c.o.name);
    const have = await c.tools.runner.run('kubectl', kubeconfigArgs.server(name), { allowFailure: true });
    if (have.exitCode === 0 && have.stdout.trim() === apiserverUrl(c.state)) return;
    for (const argv of contextArgv(c)) await c.tools.runner.run('kubectl', argv, { timeoutMs: 15_000 });
    c.did.push(`wrote kubeconfig context ${name}`);
  },
};

function contextArgv(c: Readonly<Ctx>): string[][] {
  const f = controlPlaneFiles(c.paths.dir);
  return kubeconfigArgs.set(binaryContext(c.o.name), {
    server: apiserverUrl(c.state),
    caFile: f.ca,
    certFile: f.admin.cert,
    keyFile: f.admin.key,
  });
}

/** Dynamic mode: the lab's sinks as AuditSink objects, applied when missing or changed. */
const sinks: BinaryStep = {
  title: 'sinks',
  locked: true,
  when: (c) => c.state.mode === 'dynamic' && c.state.sinks.length > 0,
  describe: (c) => [{ command: ['kubectl', ...kubectlVerbs.apply(binaryContext(c.o.name), c.paths.auditSinks)] }],
  async run(c) {
    const kubectl = c.tools.kubectl(binaryContext(c.o.name));
    const { sinks } = c.state;
    if (!c.files.auditSinksChanged) {
      const have = await kubectl.auditSinks();
      if (have !== null && sinks.every((s) => have.includes(s.name))) return;
    }
    await kubectl.apply(c.paths.auditSinks);
    c.did.push(`applied AuditSink${sinks.length === 1 ? '' : 's'} ${sinks.map((s) => s.name).join(', ')}`);
  },
};

export const BINARY_UP_STEPS: readonly BinaryStep[] = [
  binariesStep,
  recreate,
  labFiles,
  receiverStep<Ctx, Facts>(() => true),
  ...START_ORDER.map(componentStep),
  kubeContextStep,
  sinks,
  {
    title: 'summary',
    locked: true,
    describe: (c) => [{ command: ['kubectl', ...kubectlVerbs.version(binaryContext(c.o.name))] }],
    run: async (c) => ({
      serverVersion: (await c.tools.kubectl(binaryContext(c.o.name)).serverVersion()) ?? c.binaries!.version,
      receiverStatus: await c.receiver.status(c.paths),
    }),
  },
];

function context(o: UpRequest, paths: LabPaths, deps: BinaryUpDeps, before: LabState | null, state: LabState): Ctx {
  return {
    ...deps,
    o,
    paths,
    before,
    did: [],
    binaries: null,
    state,
    files: NO_FILES_CHANGED,
    serverVersion: null,
    receiverStatus: null,
  };
}

export async function upBinaryLab(o: UpRequest, paths: LabPaths, deps: BinaryUpDeps): Promise<UpResult> {
  await refuseLabSymlinks(paths);
  const before = await readState(paths);
  // The state is planned once the binaries say their version (lab files).
  const c = context(o, paths, deps, before, before ?? placeholderState(o, before, deps.env));
  await runSteps(BINARY_UP_STEPS, c, deps.progress, (fn) => withLabLock(paths, 'up', fn));
  return { state: c.state, did: c.did, serverVersion: c.serverVersion, receiver: c.receiverStatus! };
}

function placeholderState(o: UpRequest, before: LabState | null, env: NodeJS.ProcessEnv): LabState {
  const version = binariesQuery({ o, before, env }).version ?? DEFAULT_BINARY_VERSION;
  return upState({ ...o, provider: 'binary', kubernetesVersion: version }, before);
}

/** --dry-run: the steps for a lab with no control plane running yet; nothing is run, written or downloaded. */
export async function planBinaryUp(o: UpRequest, paths: LabPaths, deps: BinaryUpDeps): Promise<PlannedStep[]> {
  const before = await readState(paths);
  const c = context(o, paths, deps, before, placeholderState(o, before, deps.env));
  c.state.binary = before?.binary ?? {
    binDir: o.binDir ?? null,
    ports: await pickControlPlanePorts(paths.home, paths.name, deps.firstControlPlanePort),
  };
  c.state.receiver = { ...c.state.receiver, address: LOOPBACK, host: LOOPBACK };
  return describeSteps(BINARY_UP_STEPS, c);
}
