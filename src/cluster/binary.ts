/**
 * The binary provider: the lab's control plane as local processes (binaryPlane.ts), reached on
 * 127.0.0.1, with a kubeconfig context of its own (audit-lab-<name>) that `up` writes and `down`
 * removes. There are no nodes: nothing runs pods.
 */
import { RuntimeFailure } from '../errors.js';
import { START_ORDER } from '../controlplane/components.js';
import type { LabPaths } from '../lab/paths.js';
import { binaryContext, readState } from '../lab/state.js';
import type { Tools } from '../tools/index.js';
import { kubeconfigArgs } from '../tools/kubectl.js';
import { ToolMissing } from '../tools/run.js';
import {
  APISERVER_CLIENTS,
  ensureComponent,
  planeOf,
  runningComponents,
  STOP_GRACE_MS,
  stopPlane,
} from './binaryPlane.js';
import type { Provider } from './provider.js';
import { task } from './steps.js';

export const LOOPBACK = '127.0.0.1';

/**
 * Removes the lab's context, cluster and user from the user's kubeconfig (each may be gone
 * already). False when kubectl is not there to do it: `up` wrote them with kubectl, so without it
 * they are a leftover for the user, said as such.
 */
export async function removeKubeContext(tools: Pick<Tools, 'runner'>, name: string): Promise<boolean> {
  try {
    for (const argv of kubeconfigArgs.remove(binaryContext(name))) {
      await tools.runner.run('kubectl', argv, { allowFailure: true, timeoutMs: 15_000 });
    }
    return true;
  } catch (err) {
    if (err instanceof ToolMissing) return false;
    throw err;
  }
}

export function binaryProvider(paths: LabPaths, tools: Pick<Tools, 'runner'>, env: NodeJS.ProcessEnv): Provider {
  const stops = `stop ${[...START_ORDER].reverse().join(', ')} (SIGTERM, SIGKILL after ${STOP_GRACE_MS / 1000} s)`;
  return {
    name: 'binary',
    // Its cluster is this lab's processes: there while any of them runs.
    clusters: async () => ((await runningComponents(paths)).length > 0 ? [paths.name] : []),
    async delete(name) {
      await stopPlane(paths);
      await removeKubeContext(tools, name);
    },
    node: () => 'kube-apiserver',
    running: async () => (await runningComponents(paths)).includes('kube-apiserver'),
    async restartApiserver({ cluster, progress, timing }) {
      const state = await readState(paths);
      if (state === null) throw new RuntimeFailure(`lab ${JSON.stringify(cluster)} has no state`, 'run `audit-lab up`');
      const plane = await planeOf(paths, state, env);
      await task(
        progress,
        'restarting the API server',
        async () => {
          const o = { timeoutMs: timing.readyTimeoutMs };
          await ensureComponent('kube-apiserver', plane, { ...o, restart: true });
          // Its clients were stopped with it.
          for (const c of APISERVER_CLIENTS) await ensureComponent(c, plane, { ...o, restart: false });
        },
        'restarted the API server',
      );
    },
    describeRestart: () => [
      {
        note: `stop ${APISERVER_CLIENTS.join(' and ')}, then kube-apiserver (SIGTERM, SIGKILL after ${STOP_GRACE_MS / 1000} s)`,
      },
      {
        note: `start kube-apiserver with the same flags, wait for /readyz, then start ${APISERVER_CLIENTS.join(' and ')}`,
      },
    ],
    context: binaryContext,
    planned: {
      clusters: () => [{ note: `look for the control plane's processes (pid files in ${paths.dir}/controlplane)` }],
      delete: (name) => [
        { note: stops },
        ...kubeconfigArgs.remove(binaryContext(name)).map((argv) => ({ command: ['kubectl', ...argv] })),
      ],
    },
  };
}
