/**
 * A binary lab's control plane: etcd, kube-apiserver, kube-controller-manager and kube-scheduler,
 * each a local process on 127.0.0.1 supervised by its pid file (controlplane/supervise.ts). What
 * `up --provider binary` starts, `sink create` restarts (the API server reads its audit files only
 * at start) and `down` stops.
 */
import { RuntimeFailure } from '../errors.js';
import { type Binaries, COMPONENTS, type Component, findBinaries } from '../controlplane/binaries.js';
import { componentArgs, type ComponentInput, readiness, START_ORDER } from '../controlplane/components.js';
import { type ControlPlaneFiles, controlPlaneFiles } from '../controlplane/pki.js';
import { argvDigest, findRunning, type StartSpec, startProcess, stopProcess } from '../controlplane/supervise.js';
import { probePort } from '../lab/ports.js';
import { type LabPaths, nameFlag } from '../lab/paths.js';
import type { ControlPlanePorts, LabState } from '../lab/state.js';

/** How long a component has to stop on SIGTERM before it is killed (1.18's API server ignores it). */
export const STOP_GRACE_MS = 10_000;

/** Everything the processes are started from. */
export interface Plane {
  paths: LabPaths;
  state: LabState;
  binaries: Binaries;
  files: ControlPlaneFiles;
}

/** The port each component listens on (etcd also its peer port). */
export function componentPorts(c: Component, ports: ControlPlanePorts): number[] {
  switch (c) {
    case 'etcd':
      return [ports.etcd, ports.etcdPeer];
    case 'kube-apiserver':
      return [ports.apiserver];
    case 'kube-controller-manager':
      return [ports.controllerManager];
    case 'kube-scheduler':
      return [ports.scheduler];
  }
}

export function componentInput(p: Plane): ComponentInput {
  const { state, paths } = p;
  return {
    version: p.binaries.version,
    mode: state.mode,
    files: p.files,
    ports: state.binary!.ports,
    audit: {
      policyFile: paths.policy,
      webhookKubeconfig: paths.webhookKubeconfig,
      batchMaxWait: state.webhook.batchMaxWait,
      throttle: state.webhook.throttle,
    },
  };
}

/** The argv a component runs with, binary first. */
export function componentArgv(c: Component, p: Plane): string[] {
  return [p.binaries.path[c], ...componentArgs(c, componentInput(p))];
}

function startSpec(c: Component, p: Plane, timeoutMs: number): StartSpec {
  const name = p.paths.name;
  return {
    name: c,
    argv: componentArgv(c, p),
    files: { pid: p.files.pids[c], log: p.files.logs[c] },
    ready: readiness(c, componentInput(p)),
    timeoutMs,
    hint: `fix what its log says, then run \`audit-lab up${nameFlag(name)}\` again (it keeps what is done), or \`audit-lab down${nameFlag(name)}\``,
  };
}

/** A port the component needs that some other program holds: said before it is started, not read from its log. */
async function refuseTakenPorts(c: Component, p: Plane): Promise<void> {
  for (const port of componentPorts(c, p.state.binary!.ports)) {
    if ((await probePort('127.0.0.1', port)) === 'free') continue;
    throw new RuntimeFailure(
      `${c} of lab ${JSON.stringify(p.paths.name)} cannot start: port ${port} on 127.0.0.1 is in use by another program`,
      `stop that program (\`ss -ltnp 'sport = :${port}'\` names it), or run \`audit-lab up${nameFlag(p.paths.name)} --recreate\` to pick new ports (the cluster's objects are lost; events and sinks are kept)`,
    );
  }
}

export type ComponentResult = 'running' | 'started' | 'restarted';

/**
 * The API server's clients among the components: a kube-apiserver with their watches open takes a
 * minute to stop on SIGTERM (it waits them out), one without them about three seconds. They are
 * stopped first when it restarts, and started again after it.
 */
export const APISERVER_CLIENTS: readonly Component[] = ['kube-scheduler', 'kube-controller-manager'];

async function stopComponent(c: Component, p: Plane): Promise<void> {
  await stopProcess({ pid: p.files.pids[c], log: p.files.logs[c] }, { name: c, termMs: STOP_GRACE_MS });
}

/**
 * The component running with the argv it should have: left alone when it does, restarted when its
 * flags changed or `restart` says its files did, started when not running.
 */
export async function ensureComponent(
  c: Component,
  p: Plane,
  o: { restart: boolean; timeoutMs: number },
): Promise<ComponentResult> {
  const spec = startSpec(c, p, o.timeoutMs);
  const files = spec.files;
  const running = await findRunning(files);
  if (running !== null && !o.restart && running.argv === argvDigest(spec.argv)) {
    // Running as wanted; a process still starting (a crash loop, a slow disk) is waited for.
    await waitReady(spec);
    return 'running';
  }
  if (running !== null) {
    if (c === 'kube-apiserver') for (const client of APISERVER_CLIENTS) await stopComponent(client, p);
    await stopProcess(files, { name: c, termMs: STOP_GRACE_MS });
  }
  await refuseTakenPorts(c, p);
  await startProcess(spec);
  return running !== null ? 'restarted' : 'started';
}

async function waitReady(spec: StartSpec): Promise<void> {
  const deadline = Date.now() + spec.timeoutMs;
  while (!(await spec.ready())) {
    if (Date.now() >= deadline) {
      throw new RuntimeFailure(
        `${spec.name} runs but is not ready after ${Math.round(spec.timeoutMs / 1000)} s`,
        `see ${spec.files.log}; ${spec.hint}`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Stops every component, the API server's clients first and etcd last; what each was. */
export async function stopPlane(paths: LabPaths): Promise<Record<Component, string>> {
  const files = controlPlaneFiles(paths.dir);
  const out = {} as Record<Component, string>;
  for (const c of [...START_ORDER].reverse()) {
    out[c] = await stopProcess({ pid: files.pids[c], log: files.logs[c] }, { name: c, termMs: STOP_GRACE_MS });
  }
  return out;
}

/** Which components run now. */
export async function runningComponents(paths: LabPaths): Promise<Component[]> {
  const files = controlPlaneFiles(paths.dir);
  const running: Component[] = [];
  for (const c of COMPONENTS) {
    if ((await findRunning({ pid: files.pids[c], log: files.logs[c] })) !== null) running.push(c);
  }
  return running;
}

/** The plane of a lab `up` made, its binaries found again (from --bin-dir or the cache: no download). */
export async function planeOf(paths: LabPaths, state: LabState, env: NodeJS.ProcessEnv): Promise<Plane> {
  const binaries = await findBinaries({
    version: state.kubernetesVersion === null ? null : `v${state.kubernetesVersion}`,
    binDir: state.binary?.binDir ?? null,
    env,
  });
  return { paths, state, binaries, files: controlPlaneFiles(paths.dir) };
}
