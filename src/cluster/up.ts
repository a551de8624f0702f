/**
 * `up` as ordered steps: checks, cluster, lab files, receiver, proof that the node reaches the
 * receiver, sinks. Idempotent: each step looks at what is there and does only what is missing, so
 * a second `up` on a healthy lab changes nothing and an `up` after a failure finishes the job.
 * `up --dry-run` describes the same steps (planUp).
 */
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { RuntimeFailure, ToolError, UserError } from '../errors.js';
import { type ReceiverControl, sameListener } from '../daemon/control.js';
import type { ReceiverStatus } from '../daemon/daemon.js';
import { deployedCapture, restartPending } from '../lab/deployed.js';
import { FALLBACK_NODE_HOST, HEALTH_PATH, receiverUrl } from '../lab/endpoints.js';
import { ensurePrivateDir, writeFileAtomic } from '../lab/fsutil.js';
import { type CgroupVersion, dockerCgroup, localCgroup } from '../lab/host.js';
import type { ModeChoice } from '../lab/mode.js';
import { describeReissue, ensureLab } from '../lab/lab.js';
import { withLabLock } from '../lab/lock.js';
import { DEFAULT_LAB_NAME, type LabPaths, nameFlag } from '../lab/paths.js';
import { type LabPki, loadPki } from '../lab/pki.js';
import { createPki, defaultServerNames } from '../lab/pkiIssuer.js';
import { type PlanRequest, planState } from '../lab/plan.js';
import { pickReceiverPort } from '../lab/ports.js';
import { refuseLabSymlinks } from '../lab/safety.js';
import { type Capture, type KindConfigApi, type LabState, readState, writeState } from '../lab/state.js';
import { type RenderedFile, renderLabFiles } from '../render/labFiles.js';
import { captureFor, covers } from '../render/policyFile.js';
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
import type { CreateCluster, Provider, Reach } from './provider.js';
import { describeSteps, type Planned, type Progress, runSteps, type Step, task } from './steps.js';

export interface UpDeps {
  tools: Tools;
  provider: Provider;
  receiver: ReceiverControl;
  timing: ApiserverTiming;
  progress: Progress;
}

/** What `up` is asked: flags left out are undefined, so an existing lab keeps its values. */
export interface UpRequest {
  name: string;
  mode?: ModeChoice;
  image?: string;
  /** A new lab gets the default sink. */
  sink: boolean;
  recreate: boolean;
  capture?: Capture;
  kindConfigApi?: KindConfigApi;
  batchMaxWait?: string;
  port?: number;
}

/**
 * Flags as planState takes them: only those given. On an existing lab the rest keep the lab's
 * values, so `up` after `down` rebuilds the same lab; a new lab takes the defaults.
 */
export function planOptions(o: UpRequest): PlanRequest {
  return {
    name: o.name,
    ...(o.mode !== undefined ? { mode: o.mode } : {}),
    ...(o.image !== undefined ? { image: o.image } : {}),
    ...(o.kindConfigApi !== undefined ? { kindConfigApi: o.kindConfigApi } : {}),
    ...(o.batchMaxWait !== undefined ? { batchMaxWait: o.batchMaxWait } : {}),
    ...(o.capture !== undefined ? { capture: o.capture } : {}),
    ...(o.port !== undefined ? { port: o.port } : {}),
  };
}

/** The state `up` would work from: planState, and no default sink for a new lab with --no-sink. */
export function upState(o: UpRequest, existing: LabState | null, now = new Date()): LabState {
  const state = planState(existing, planOptions(o), now);
  if (existing === null && !o.sink) state.sinks = [];
  return state;
}

/** A new lab without --port takes a port no other lab keeps (labs side by side share the gateway). */
async function withPort(o: UpRequest, existing: LabState | null, paths: LabPaths): Promise<UpRequest> {
  if (o.port !== undefined || existing !== null) return o;
  return { ...o, port: await pickReceiverPort(paths.home, paths.name) };
}

/** What a running cluster was made with, as a person reads it; changing any of it needs a new cluster. */
function clusterShape(s: LabState): Record<string, string> {
  return {
    mode: s.mode,
    image: s.image ?? "kind's default",
    'kind config API': s.kindConfigApi,
    ...(s.mode === 'static' ? { 'batch max wait': s.webhook.batchMaxWait, throttle: `${s.webhook.throttle.qps}/${s.webhook.throttle.burst}` } : {}),
  };
}

/** Each part of the cluster's shape that `to` changes, e.g. "batch max wait 1s -> 100ms". */
function shapeChanges(from: LabState, to: LabState): string[] {
  const [a, b] = [clusterShape(from), clusterShape(to)];
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  return keys.filter((k) => a[k] !== b[k]).map((k) => `${k} ${a[k] ?? '(none)'} -> ${b[k] ?? '(none)'}`);
}

export function describeShape(s: LabState): string {
  return `${s.mode} mode, ${s.image ?? "kind's default image"}`;
}

/** Where each rendered file goes in the lab. */
export function filePath(paths: LabPaths, f: RenderedFile): string {
  switch (f.name) {
    case 'config.yaml':
      return paths.kindConfig;
    case 'audit.yaml':
      return paths.auditSinks;
    default:
      return join(paths.apiserverDir, f.name);
  }
}

async function writeIfChanged(path: string, content: string, mode: number): Promise<boolean> {
  try {
    if ((await readFile(path, 'utf8')) === content) return false;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await writeFileAtomic(path, content, mode);
  return true;
}

function withoutTimestamp(s: LabState): string {
  return JSON.stringify({ ...s, updatedAt: '' });
}

const recover = (name: string) =>
  `run \`audit-lab up${nameFlag(name)}\` again to finish (it keeps what is done), or \`audit-lab down${nameFlag(name)}\` to remove what was made`;

function withRecoveryHint(err: unknown, name: string): unknown {
  if (err instanceof ToolError && err.hint === undefined) return new ToolError(err.message, err.command, err.output, `fix the cause above, then ${recover(name)}`);
  if (err instanceof RuntimeFailure && err.hint === undefined) return new RuntimeFailure(err.message, recover(name));
  return err;
}

interface LabFiles {
  /** The receiver's certificate is new: a running receiver must restart with it. */
  certChanged: boolean;
  /** The API server's policy or webhook config changed (or a restart is pending for them). */
  apiserverFilesChanged: boolean;
  auditSinksChanged: boolean;
}

/** What the steps of one `up` share: what it was asked, what it found, and what it did. */
export interface UpContext extends UpDeps {
  o: UpRequest;
  paths: LabPaths;
  node: string;
  /** The lab's state when up began (the checks read it), and under the lock. */
  before: LabState | null;
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
  /** What this run changed, for the summary ("up already" when empty). */
  did: string[];
  /** --dry-run: the certificates the files are shown with. */
  pki: LabPki | null;
  serverVersion: string | null;
  receiverStatus: ReceiverStatus | null;
}

/** Where the node reaches the receiver before `up` learned it: the files name the Docker Desktop host. */
const PLACEHOLDER_HOST = '<gateway>';

function apiDeps(c: UpContext): ApiserverDeps {
  return { docker: c.tools.docker, kubectl: c.tools.kubectl(c.o.name), node: c.node, progress: c.progress, timing: c.timing };
}

async function portOrThrow(c: UpContext, state: LabState): Promise<void> {
  const f = await checkPort(c.paths, c.receiver, state.receiver.address, state.receiver.port);
  if (f.status === 'fail') throw new RuntimeFailure(f.message, f.fix);
}

function renderFor(c: UpContext, state: LabState, pki: LabPki, host: string | null): RenderedFile[] {
  return renderLabFiles(state, pki, { mountDir: c.paths.apiserverDir, receiverHost: host ?? FALLBACK_NODE_HOST, hostCgroup: c.hostCgroup });
}

/**
 * State, PKI and rendered files, each written only when it differs, so a second `up` touches
 * nothing. The server certificate is reissued when it does not cover the node-facing host.
 */
async function writeLab(c: UpContext, previous: LabState | null, state: LabState, host: string | null): Promise<LabFiles> {
  const { paths } = c;
  if (previous === null || withoutTimestamp(previous) !== withoutTimestamp(state)) {
    state.updatedAt = new Date().toISOString();
    await writeState(paths, state);
  }
  const lab = await ensureLab(paths);
  // A new server certificate is routine here (the node reaches the receiver at a new address) and
  // up restarts the receiver with it; a new client certificate changes what the API server holds.
  for (const r of lab.reissued) {
    const text = describeReissue(r, paths, state.mode, 'up');
    if (r.part === 'server') c.progress.info(text);
    else c.progress.warn(text);
  }
  const certChanged = lab.pkiCreated || lab.reissued.some((r) => r.part === 'server');
  await ensurePrivateDir(paths.apiserverDir);
  const changed: string[] = [];
  // The API server's capture only has to cover every sink (as for `sink create`): a wider one,
  // left by a deleted sink, is kept rather than restarting the API server to narrow it. A capture
  // the user names with --capture is the one deployed, restart and all: it is what they asked.
  const deployed = state.mode === 'static' ? await deployedCapture(paths) : null;
  const keepCapture = c.o.capture === undefined && deployed !== null && covers(deployed, captureFor(state.sinks, state.capture));
  // A `sink create` whose restart failed left its capture unloaded: this up restarts for it.
  const pending = state.mode === 'static' && (await stat(restartPending(paths)).then(() => true, () => false));
  for (const f of renderFor(c, state, lab.pki, host)) {
    if (f.name === 'policy.yaml' && keepCapture) continue;
    if (await writeIfChanged(filePath(paths, f), f.content, f.mode)) changed.push(f.name);
  }
  if (changed.length > 0) c.did.push(`wrote ${changed.join(', ')}`);
  return {
    certChanged,
    apiserverFilesChanged: pending || changed.includes('policy.yaml') || changed.includes('webhook.kubeconfig'),
    auditSinksChanged: changed.includes('audit.yaml'),
  };
}

const createArgs = (c: UpContext): CreateCluster => ({ name: c.o.name, config: c.paths.kindConfig, image: c.state.image });
const CAT_MANIFEST = ['cat', MANIFEST];
const curl = (c: UpContext) => ['curl', '-fsSk', '-m', '5', receiverUrl(c.state.receiver.host!, c.state.receiver.port, HEALTH_PATH)];
const exec = (c: UpContext, argv: readonly string[]): Planned => ({ command: ['docker', ...dockerArgs.exec(c.node, argv)] });

/** Starts the receiver, or restarts it when it listens elsewhere, has an old certificate or does not answer. */
function receiverStep(when: (c: UpContext) => boolean): Step<UpContext> {
  return {
    title: 'receiver',
    when,
    describe: (c) => [{ note: `start the receiver in the background on ${c.state.receiver.address}:${c.state.receiver.port}` }],
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

export const UP_STEPS: readonly Step<UpContext>[] = [
  {
    title: 'checks',
    describe: () => checkCommands().map((command) => ({ command })),
    async run(c) {
      const report = await runChecks({ tools: c.tools, paths: c.paths, receiver: c.receiver, state: c.before, mode: c.state.mode, image: c.state.image, skipPort: true });
      c.progress.findings(report.findings);
      if (!report.ok) {
        const n = report.findings.filter((f) => f.status === 'fail').length;
        throw new RuntimeFailure(`cannot bring the lab up: ${n} check${n === 1 ? '' : 's'} failed (above)`, `fix what they name, then run \`audit-lab up${nameFlag(c.o.name)}\` again; \`audit-lab doctor\` checks everything`);
      }
      c.docker = report.facts.docker!;
      c.kindVersion = report.facts.kindVersion;
      c.hostCgroup = dockerCgroup(c.docker);
      c.reach = c.provider.knownReach(c.docker);
    },
  },
  {
    title: 'find cluster',
    locked: true,
    describe: (c) => [{ command: c.provider.argv.clusters() }],
    async run(c) {
      c.existing = await readState(c.paths);
      c.exists = (await c.provider.clusters()).includes(c.o.name);
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
      c.exists = false;
    },
    assume: (c) => {
      c.exists = false;
    },
  },
  {
    // How the node reaches this machine when the provider does not know it outright: on Linux the
    // kind network's gateway, which exists only once kind has made the network (the first cluster).
    title: 'find kind network',
    locked: true,
    when: (c) => c.reach === null,
    describe: (c) => [{ command: c.provider.argv.findReach() }],
    async run(c) {
      c.reach = await c.provider.findReach();
    },
    assume: (c) => {
      const { host, address } = c.state.receiver;
      c.reach = host !== null ? { host, address } : null;
    },
  },
  {
    title: 'lab files',
    locked: true,
    describe: (c) => [
      { file: c.paths.state },
      { note: `make the PKI in ${c.paths.pkiDir} when missing` },
      ...renderFor(c, c.state, c.pki!, c.reach?.host ?? null).map((f) => ({ file: filePath(c.paths, f), content: f.content })),
    ],
    async run(c) {
      const { o, existing } = c;
      if (c.exists && existing === null) {
        throw new RuntimeFailure(
          `a ${c.provider.name} cluster named ${JSON.stringify(o.name)} already exists, but lab ${JSON.stringify(o.name)} has no state: audit-lab did not make it (or the lab was purged)`,
          `use another name (\`audit-lab up --name ${o.name === DEFAULT_LAB_NAME ? 'audit-lab-2' : `${o.name}-2`}\`), or \`audit-lab up${nameFlag(o.name)} --recreate\` to delete that cluster and start over`,
        );
      }
      const state = upState(await withPort(o, existing, c.paths), existing);
      const changes = existing === null ? [] : shapeChanges(existing, state);
      if (c.exists && changes.length > 0) {
        throw new UserError(
          `lab ${JSON.stringify(o.name)}'s cluster was made with what this up changes (${changes.join(', ')}): that needs a new cluster`,
          'add --recreate to delete the cluster and make it again (events and sinks are kept)',
        );
      }
      if (c.reach !== null) state.receiver.address = c.reach.address;
      state.receiver.host = c.reach?.host ?? null;
      c.state = state;
      if (c.reach !== null) await portOrThrow(c, state);
      c.files = await writeLab(c, existing, state, state.receiver.host);
    },
  },
  receiverStep((c) => c.reach !== null),
  {
    title: 'create cluster',
    locked: true,
    when: (c) => !c.exists,
    describe: (c) => [{ command: c.provider.argv.create(createArgs(c)) }],
    async run(c) {
      const { o, state, progress } = c;
      const note = await c.provider.cgroupV1Note({ image: state.image, api: state.kindConfigApi, hostCgroup: c.hostCgroup });
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
      await task(progress, `creating cluster ${o.name} (${describeShape(state)})`, () =>
        c.provider.create(createArgs(c), { onLine, failMessage: `${c.provider.name} could not create cluster ${JSON.stringify(o.name)}`, hint }), `created cluster ${o.name}`);
      // A new API server starts with the files as they are: no restart is pending for it.
      await rm(restartPending(c.paths), { force: true });
      c.did.push('created the cluster');
      c.created = true;
    },
    assume: (c) => {
      c.created = true;
    },
  },
  {
    // The files named a placeholder host: rewritten with the one learned, which the API server
    // (static mode) reads only at start.
    title: 'learn gateway',
    locked: true,
    when: (c) => c.created && c.reach === null,
    describe: (c) => [{ command: c.provider.argv.findReach() }, { note: `rewrite ${c.state.mode === 'static' ? 'webhook.kubeconfig' : 'audit.yaml'} for the address found (${PLACEHOLDER_HOST} below)` }],
    async run(c) {
      const reach = await c.provider.findReach();
      if (reach === null) throw c.provider.reachMissing(c.o.name);
      c.progress.info(c.provider.describeReach(reach));
      const learned: LabState = { ...c.state, receiver: { ...c.state.receiver, host: reach.host, address: reach.address } };
      await portOrThrow(c, learned);
      c.files = await writeLab(c, c.state, learned, reach.host);
      Object.assign(c.state, learned);
      c.reach = reach;
      c.learned = true;
      c.restart = c.state.mode === 'static' && c.files.apiserverFilesChanged;
    },
    assume: (c) => {
      c.reach = { host: PLACEHOLDER_HOST, address: PLACEHOLDER_HOST };
      c.state.receiver = { ...c.state.receiver, host: PLACEHOLDER_HOST, address: PLACEHOLDER_HOST };
      c.learned = true;
      c.restart = c.state.mode === 'static';
    },
  },
  receiverStep((c) => c.learned),
  {
    // A cluster that is there already must be one `up` made for this mode, with its API server in place.
    title: 'check cluster',
    locked: true,
    when: (c) => !c.created,
    describe: (c) => [{ command: ['docker', ...dockerArgs.containerState(c.node)] }, exec(c, ['test', '-e', MANIFEST_ASIDE]), exec(c, CAT_MANIFEST)],
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
      c.restart = c.state.mode === 'static' && c.files.apiserverFilesChanged;
    },
  },
  {
    title: 'restart API server',
    locked: true,
    when: (c) => c.restart,
    describe: (c) => describeRestart(c.node, c.o.name, c.timing),
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
    describe: (c) => describeWait(c.o.name),
    run: (c) => waitForApiserver(apiDeps(c)),
  },
  {
    // The node fetches the receiver's /healthz: address, port, routing and firewall all proven at once.
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
  },
  {
    // Dynamic mode: the lab's sinks as AuditSink objects, applied when missing or changed.
    title: 'sinks',
    locked: true,
    when: (c) => c.state.mode === 'dynamic' && c.state.sinks.length > 0,
    describe: (c) => [
      ...(c.files.auditSinksChanged || c.created ? [] : [{ command: ['kubectl', ...kubectlVerbs.auditSinks(c.o.name)] }]),
      { command: ['kubectl', ...kubectlVerbs.apply(c.o.name, c.paths.auditSinks)] },
    ],
    async run(c) {
      const kubectl = c.tools.kubectl(c.o.name);
      const sinks = c.state.sinks;
      if (!c.files.auditSinksChanged && !c.created) {
        const have = await kubectl.auditSinks();
        if (have !== null && sinks.every((s) => have.includes(s.name))) return;
      }
      await kubectl.apply(c.paths.auditSinks);
      c.did.push(`applied AuditSink${sinks.length === 1 ? '' : 's'} ${sinks.map((s) => s.name).join(', ')}`);
    },
  },
  {
    title: 'summary',
    locked: true,
    describe: (c) => [{ command: ['kubectl', ...kubectlVerbs.version(c.o.name)] }],
    async run(c) {
      c.serverVersion = (await c.tools.kubectl(c.o.name).serverVersion()) ?? (c.state.kubernetesVersion ? `v${c.state.kubernetesVersion}` : null);
      c.receiverStatus = await c.receiver.status(c.paths);
    },
  },
];

function context(o: UpRequest, paths: LabPaths, deps: UpDeps, before: LabState | null, state: LabState): UpContext {
  return {
    ...deps,
    o,
    paths,
    node: deps.provider.node(o.name),
    before,
    existing: before,
    state,
    docker: null,
    kindVersion: null,
    hostCgroup: null,
    exists: false,
    created: false,
    reach: null,
    learned: false,
    files: { certChanged: false, apiserverFilesChanged: false, auditSinksChanged: false },
    restart: false,
    did: [],
    pki: null,
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
  steps: { title: string; planned: Planned[] }[];
}

/**
 * --dry-run: the steps up would take for a lab with no cluster yet (or one --recreate deletes),
 * on Linux: nothing is run or written. Certificates a new lab would make are made in memory.
 */
export async function planUp(o: UpRequest, paths: LabPaths, deps: UpDeps, env: NodeJS.ProcessEnv): Promise<UpPlan> {
  const existing = await readState(paths);
  const state = upState(await withPort(o, existing, paths), existing);
  const c = context(o, paths, deps, existing, state);
  c.exists = o.recreate;
  c.hostCgroup = await localCgroup(env);
  c.pki = (existing ? await loadPki(paths.pkiDir, paths.name) : null) ?? (await createPki(o.name, defaultServerNames([state.receiver.host ?? FALLBACK_NODE_HOST])));
  const notes = [`dry run: nothing is run or written. ${describeShape(state)}.`];
  const cgroup = await deps.provider.cgroupV1Note({ image: state.image, api: state.kindConfigApi, hostCgroup: c.hostCgroup });
  if (cgroup !== null) notes.push(cgroup);
  if (state.receiver.host === null) {
    notes.push(
      `note: the receiver is addressed as ${FALLBACK_NODE_HOST} here; on Linux up learns the gateway of ${deps.provider.nodeNetwork} (${PLACEHOLDER_HOST} below) and uses that`,
    );
  }
  return { state, notes, steps: describeSteps(UP_STEPS, c) };
}
