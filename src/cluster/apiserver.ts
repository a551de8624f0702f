/**
 * The API server of a kind node: waiting for it, and restarting it so it rereads its audit policy
 * and webhook config (it reads them only at start). kubelet runs it as a static pod; moving its
 * manifest out of /etc/kubernetes/manifests for longer than kubelet's 20 s file check stops it,
 * moving it back starts a fresh one.
 */
import { ToolError } from '../errors.js';
import { nameFlag } from '../lab/paths.js';
import { type Docker, dockerArgs } from '../tools/docker.js';
import { type Kubectl, kubectlVerbs } from '../tools/kubectl.js';
import { commandLine } from '../tools/run.js';
import { type Planned, type Progress, task } from './steps.js';

export const MANIFEST = '/etc/kubernetes/manifests/kube-apiserver.yaml';
/** Outside the manifests directory, so kubelet does not see it; a second `up` finds it here after a crash. */
export const MANIFEST_ASIDE = '/etc/kubernetes/kube-apiserver.yaml.audit-lab';

export interface ApiserverTiming {
  /** How long the manifest stays out: longer than kubelet's 20 s file check. */
  pauseMs: number;
  /** How long to wait for /readyz before giving up. */
  readyTimeoutMs: number;
  pollMs: number;
  /**
   * The limit of each /readyz call; unset, what is left of readyTimeoutMs (1 s to 10 s). A test
   * seam: a fake kubectl on a loaded machine may take longer than 1 s to answer at all.
   */
  readyCallMs?: number;
}

export const DEFAULT_TIMING: ApiserverTiming = { pauseMs: 25_000, readyTimeoutMs: 180_000, pollMs: 1_000 };

function envMs(env: NodeJS.ProcessEnv, key: string, fallback: number): number {
  const v = env[key];
  if (v === undefined || !/^\d+$/.test(v)) return fallback;
  return Number(v);
}

/**
 * Timing from the environment. AUDIT_LAB_APISERVER_PAUSE_MS, AUDIT_LAB_READY_TIMEOUT_MS,
 * AUDIT_LAB_POLL_MS and AUDIT_LAB_READY_CALL_TIMEOUT_MS are test seams: the lifecycle tests
 * shorten the waits with them, and let no call to a fake tool be stopped for being slow.
 */
export function timingFromEnv(env: NodeJS.ProcessEnv): ApiserverTiming {
  const readyCallMs = envMs(env, 'AUDIT_LAB_READY_CALL_TIMEOUT_MS', 0);
  return {
    pauseMs: envMs(env, 'AUDIT_LAB_APISERVER_PAUSE_MS', DEFAULT_TIMING.pauseMs),
    readyTimeoutMs: envMs(env, 'AUDIT_LAB_READY_TIMEOUT_MS', DEFAULT_TIMING.readyTimeoutMs),
    pollMs: envMs(env, 'AUDIT_LAB_POLL_MS', DEFAULT_TIMING.pollMs),
    ...(readyCallMs > 0 ? { readyCallMs } : {}),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ApiserverDeps {
  docker: Docker;
  kubectl: Kubectl;
  /** The lab's name, as messages name its cluster. */
  cluster: string;
  /** The container the API server runs in. */
  node: string;
  progress: Progress;
  timing: ApiserverTiming;
}

const testExists = (path: string) => ['test', '-e', path];
const MOVE_OUT = ['mv', MANIFEST, MANIFEST_ASIDE];
const MOVE_BACK = ['mv', MANIFEST_ASIDE, MANIFEST];

/** The last lines the API server container logged, for a message when it does not come up. */
export async function apiserverLogs(
  docker: Docker,
  node: string,
  lines = 30,
): Promise<{ command: string[]; output: string }> {
  const ps = await docker.exec(node, ['crictl', 'ps', '-a', '--name', 'kube-apiserver', '-q'], {
    allowFailure: true,
    timeoutMs: 20_000,
  });
  const id = ps.stdout.split('\n')[0]?.trim();
  if (ps.exitCode !== 0 || !id) {
    return { command: ps.command.slice(), output: ps.output.trim() || 'no kube-apiserver container on the node' };
  }
  const logs = await docker.exec(node, ['crictl', 'logs', '--tail', String(lines), id], {
    allowFailure: true,
    timeoutMs: 20_000,
  });
  return { command: logs.command.slice(), output: logs.output };
}

/** Polls /readyz until it answers ok; on timeout throws with the API server's last log lines. */
export async function waitForApiserver(deps: ApiserverDeps, label = 'waiting for the API server'): Promise<void> {
  const { kubectl, timing } = deps;
  await deps.progress.start(label);
  const deadline = Date.now() + timing.readyTimeoutMs;
  let last = '';
  for (;;) {
    const r = await kubectl.ready(timing.readyCallMs ?? Math.max(1_000, Math.min(10_000, deadline - Date.now())));
    if (r.ready) {
      deps.progress.succeed();
      return;
    }
    last =
      r.output
        .split('\n')
        .filter((l) => l.trim() !== '')
        .pop() ?? last;
    if (last !== '') deps.progress.update(last);
    if (Date.now() >= deadline) break;
    await sleep(timing.pollMs);
  }
  deps.progress.fail();
  const logs = await apiserverLogs(deps.docker, deps.node);
  throw new ToolError(
    `the API server of cluster ${JSON.stringify(deps.cluster)} did not become ready within ${formatMs(timing.readyTimeoutMs)}` +
      (last !== '' ? ` (last answer: ${last.trim()})` : ''),
    logs.command,
    logs.output,
    `the output above is the API server's own log (\`${commandLine(logs.command)}\`); ` +
      `fix what it names, then run \`audit-lab up${nameFlag(deps.cluster)}\` again, or start over with \`audit-lab up${nameFlag(deps.cluster)} --recreate\``,
  );
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${+(ms / 1000).toFixed(1)}s` : `${ms}ms`;
}

async function exists(docker: Docker, node: string, path: string): Promise<boolean> {
  const r = await docker.exec(node, testExists(path), { allowFailure: true, timeoutMs: 20_000 });
  return r.exitCode === 0;
}

/**
 * Puts the manifest back if an earlier restart was interrupted between its two moves. Returns
 * true when it had to.
 */
export async function recoverApiserverManifest(docker: Docker, node: string): Promise<boolean> {
  if (!(await exists(docker, node, MANIFEST_ASIDE))) return false;
  if (await exists(docker, node, MANIFEST)) {
    // Both there: the aside copy is the stale one.
    await docker.exec(node, ['rm', '-f', MANIFEST_ASIDE]);
    return false;
  }
  await docker.exec(node, MOVE_BACK);
  return true;
}

/** Stops and restarts the API server, then waits until it is ready again. */
export async function restartApiserver(
  deps: ApiserverDeps,
  why = 'to load the new audit configuration',
): Promise<void> {
  const { docker, node, progress, timing } = deps;
  await recoverApiserverManifest(docker, node);
  await task(progress, `restarting the API server ${why}`, async () => {
    await docker.exec(node, MOVE_OUT);
    try {
      const until = Date.now() + timing.pauseMs;
      while (Date.now() < until) {
        progress.update(`(kubelet stops it; back in ${Math.ceil((until - Date.now()) / 1000)}s)`);
        await sleep(Math.min(1000, until - Date.now()));
      }
    } finally {
      // Even when interrupted, never leave the cluster without its API server.
      await docker.exec(node, MOVE_BACK);
    }
  });
  await waitForApiserver(deps, 'waiting for the restarted API server');
}

/** What waitForApiserver runs (polled until it answers ok). */
export function describeWait(context: string): Planned[] {
  return [{ command: ['kubectl', ...kubectlVerbs.readyz(context)] }];
}

/** What restartApiserver runs, when no earlier restart was interrupted. */
export function describeRestart(node: string, context: string, timing: ApiserverTiming): Planned[] {
  const exec = (argv: string[]) => ({ command: ['docker', ...dockerArgs.exec(node, argv)] });
  return [
    exec(testExists(MANIFEST_ASIDE)),
    exec(MOVE_OUT),
    { note: `wait ${formatMs(timing.pauseMs)}, for kubelet to stop the API server` },
    exec(MOVE_BACK),
    ...describeWait(context),
  ];
}

/** Whether the node's API server runs with audit-lab's flags for a mode (the cluster was made by `up`). */
export function manifestWired(manifest: string, mode: 'static' | 'dynamic'): boolean {
  if (mode === 'dynamic') return /--audit-dynamic-configuration=true/.test(manifest);
  return /--audit-webhook-config-file=\/etc\/kubernetes\/audit-lab\/webhook\.kubeconfig/.test(manifest);
}
