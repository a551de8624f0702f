/**
 * A lab's status, each part asked directly (kind, the node container, /readyz, the receiver's pid
 * and /healthz, the stream files, the certificates) rather than read from the state file, so it
 * tells the truth after a crash. Works with no lab and with no cluster. Reads only: no server, no
 * certificate library.
 */
import { readFile, stat } from 'node:fs/promises';
import type { ReceiverControl } from '../daemon/control.js';
import { type ForwardingState, forwardingOf } from '../daemon/forwarding.js';
import { receiverUrl } from '../lab/endpoints.js';
import { type LabPaths, nameFlag } from '../lab/paths.js';
import { caFix, describePkiIssue, inspectPki, type PkiInspection } from '../lab/pki.js';
import { refuseLabSymlinks } from '../lab/safety.js';
import { type LabState, readState } from '../lab/state.js';
import { webhookKubeconfigCerts } from '../render/webhookKubeconfig.js';
import { countSinkEvents } from '../streams/stats.js';
import { ToolError } from '../errors.js';
import type { Tools } from '../tools/index.js';
import { commandLine, ToolMissing } from '../tools/run.js';
import type { Provider } from './provider.js';

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

export interface ClusterReport {
  name: string;
  /** What runs it: kind, or binary (local processes). */
  provider: string;
  context: string;
  node: string;
  exists: boolean;
  /** The node container runs (null when unknown). */
  running: boolean | null;
  /** /readyz answers ok (null when not asked). */
  ready: boolean | null;
  kubernetesVersion: string | null;
  error?: string;
}

/** The clusters that exist (any lab's), or why they could not be listed: `status` asks for one lab, `list` once for all. */
export async function clusterNames(
  provider: Pick<Provider, 'clusters'>,
): Promise<{ names: string[]; error: null } | { names: null; error: string }> {
  try {
    return { names: await provider.clusters(), error: null };
  } catch (err) {
    if (err instanceof ToolMissing) return { names: null, error: `${err.tool} is not on PATH` };
    if (err instanceof ToolError) {
      return { names: null, error: `\`${commandLine(err.command)}\` failed: ${err.message}` };
    }
    throw err;
  }
}

/** What status and its callers ask: the provider for the cluster, the tools for its node and API server. */
export interface StatusDeps {
  tools: Pick<Tools, 'docker' | 'kubectl'>;
  provider: Pick<Provider, 'name' | 'clusters' | 'node' | 'context' | 'running'>;
}

async function clusterReport(deps: StatusDeps, name: string): Promise<ClusterReport> {
  const { tools, provider } = deps;
  const r: ClusterReport = {
    name,
    provider: provider.name,
    context: provider.context(name),
    node: provider.node(name),
    exists: false,
    running: null,
    ready: null,
    kubernetesVersion: null,
  };
  const found = await clusterNames(provider);
  if (found.error !== null) {
    r.error = found.error;
    return r;
  }
  r.exists = found.names.includes(name);
  if (!r.exists) return r;
  try {
    r.running = await provider.running(name);
  } catch (err) {
    if (!(err instanceof ToolMissing)) throw err;
    r.error = `${err.tool} is not on PATH`;
  }
  if (r.running === false) return r;
  try {
    const kubectl = tools.kubectl(provider.context(name));
    r.ready = (await kubectl.ready(5_000)).ready;
    if (r.ready) r.kubernetesVersion = await kubectl.serverVersion();
  } catch (err) {
    if (!(err instanceof ToolMissing)) throw err;
    r.error = 'kubectl is not on PATH';
  }
  return r;
}

export interface StatusReport {
  lab: { name: string; dir: string; exists: boolean };
  mode: LabState['mode'] | null;
  image: string | null;
  cluster: ClusterReport;
  receiver: {
    running: boolean;
    pid: number | null;
    url: string | null;
    healthy: boolean | null;
    reachedAt: string | null;
  };
  sinks: {
    name: string;
    level: string;
    stages: string[];
    url: string | null;
    events: number;
    lastEvent: string | null;
    /** Only for a sink the receiver forwards (static mode, --url): its backlog and counts, null while no receiver reports them. */
    forwarding?: ForwardingState | null;
  }[];
  files: {
    dir: string | null;
    state: string | null;
    kindConfig: string | null;
    auditSinks: string | null;
    policy: string | null;
    webhookKubeconfig: string | null;
    pki: string | null;
    streams: string | null;
  };
  /** The lab's certificates: complete, or what is missing or broken (null: no lab). */
  pki: { complete: boolean; issues: { file: string; problem: string }[] } | null;
  /** What is wrong, each with what to do; empty when all is well (or nothing is there). */
  problems: string[];
}

/** What is wrong with the lab's PKI, and with the webhook kubeconfig made from it, each with what to do. */
async function pkiProblems(paths: LabPaths, state: LabState, found: PkiInspection, labFlag: string): Promise<string[]> {
  const list = found.issues.map(describePkiIssue).join('; ');
  if (found.absent)
    return [
      `the lab has no certificates in ${paths.pkiDir}: \`audit-lab up${labFlag}\` makes a new CA and gives it to the cluster`,
    ];
  if (!found.ca) return [`the lab CA cannot be used: ${list}: ${caFix(paths.pkiDir, paths.name)}`];
  if (found.issues.length > 0) {
    return [
      `the lab's certificates are incomplete: ${list}: \`audit-lab up${labFlag}\` reissues them from the lab CA${state.mode === 'static' ? ' and gives them to the API server' : ''}`,
    ];
  }
  if (state.mode !== 'static' || !found.client) return [];
  const text = await readFile(paths.webhookKubeconfig, 'utf8').catch(() => null);
  const held = text === null ? null : webhookKubeconfigCerts(text);
  if (held === null || (held.caPem === found.ca.cert && held.clientCertPem === found.client.cert)) return [];
  // The API server reads it only at start, so a kubeconfig older than the PKI means it uses old certificates.
  return [
    `${paths.webhookKubeconfig} was made from other certificates than those in ${paths.pkiDir}: \`audit-lab up${labFlag}\` rewrites it and restarts the API server`,
  ];
}

/** The lab's receiver: asked (its pid file, /healthz) when the lab exists. */
export async function receiverReport(
  paths: LabPaths,
  state: LabState | null,
  receiver: ReceiverControl | null,
  labExists: boolean,
): Promise<StatusReport['receiver']> {
  const rs: Awaited<ReturnType<ReceiverControl['status']>> =
    receiver && labExists ? await receiver.status(paths) : { running: false };
  return {
    running: rs.running,
    pid: rs.pid ?? null,
    // Where it listens, or would: the lab's address and port when it is not running.
    url: rs.url ?? (state ? receiverUrl(state.receiver.address, state.receiver.port) : null),
    healthy: rs.healthy ?? null,
    reachedAt: state?.receiver.host ?? null,
  };
}

/** Each sink of the lab with the events stored for it, and what it forwards. */
export async function sinkReports(paths: LabPaths, state: LabState | null): Promise<StatusReport['sinks']> {
  const sinks: StatusReport['sinks'] = [];
  if (state === null) return sinks;
  const forwarding = await forwardingOf(paths, state);
  for (const s of state.sinks) {
    const c = await countSinkEvents(paths.streamsDir, s.name);
    const f = forwarding(s.name);
    sinks.push({
      name: s.name,
      level: s.level,
      stages: [...s.stages],
      url: s.url ?? null,
      events: c.events,
      lastEvent: c.lastEvent,
      ...(f !== undefined ? { forwarding: f } : {}),
    });
  }
  return sinks;
}

export async function collectStatus(
  paths: LabPaths,
  deps: StatusDeps,
  receiver: ReceiverControl | null,
): Promise<StatusReport> {
  await refuseLabSymlinks(paths);
  const state = await readState(paths);
  const labExists = await exists(paths.dir);
  const [cluster, rs] = await Promise.all([
    clusterReport(deps, paths.name),
    receiverReport(paths, state, receiver, labExists),
  ]);
  const present = async (p: string) => ((await exists(p)) ? p : null);
  const report: StatusReport = {
    lab: { name: paths.name, dir: paths.dir, exists: labExists && state !== null },
    mode: state?.mode ?? null,
    image: state?.image ?? null,
    cluster,
    receiver: rs,
    sinks: await sinkReports(paths, state),
    files: {
      dir: await present(paths.dir),
      state: await present(paths.state),
      kindConfig: await present(paths.kindConfig),
      auditSinks: await present(paths.auditSinks),
      policy: await present(paths.policy),
      webhookKubeconfig: await present(paths.webhookKubeconfig),
      pki: await present(paths.pkiDir),
      streams: await present(paths.streamsDir),
    },
    pki: null,
    problems: [],
  };
  const labFlag = nameFlag(paths.name);
  const p = report.problems;
  if (state !== null) {
    const found = await inspectPki(paths.pkiDir);
    report.pki = {
      complete: !found.absent && found.issues.length === 0,
      issues: found.issues.map(({ file, problem }) => ({ file, problem })),
    };
    p.push(...(await pkiProblems(paths, state, found, labFlag)));
  }
  if (cluster.error)
    p.push(`${cluster.error}: cannot tell whether the cluster runs (\`audit-lab doctor\` checks the tools)`);
  if (state !== null) {
    if (!cluster.exists && !cluster.error)
      p.push(`no cluster ${JSON.stringify(paths.name)}: \`audit-lab up${labFlag}\` makes it`);
    if (cluster.running === false)
      p.push(
        cluster.provider === 'binary'
          ? `${cluster.node} is not running: \`audit-lab up${labFlag}\` starts it (its log: ${paths.dir}/controlplane/${cluster.node}.log)`
          : `the node container ${cluster.node} is not running: \`docker start ${cluster.node}\`, or \`audit-lab up${labFlag} --recreate\``,
      );
    if (cluster.running !== false && cluster.ready === false)
      p.push(`the API server does not answer /readyz: wait, or \`audit-lab up${labFlag}\` to check and repair`);
    if (!rs.running) {
      p.push(
        cluster.exists
          ? `the receiver is not running, so the API server's audit events are lost: \`audit-lab up${labFlag}\` starts it`
          : `the receiver is not running (\`audit-lab up${labFlag}\` starts it with the cluster)`,
      );
    }
    if (rs.running && rs.healthy === false)
      p.push(`the receiver (pid ${rs.pid}) does not answer its health check: \`audit-lab up${labFlag}\` restarts it`);
  } else if (cluster.exists) {
    p.push(
      `a cluster ${JSON.stringify(paths.name)} exists but audit-lab has no lab for it: \`audit-lab up${labFlag} --recreate\` makes it a lab`,
    );
  }
  return report;
}
