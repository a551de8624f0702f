/**
 * `down`: stop the receiver and delete the cluster; the events stay unless purged. Nothing to
 * delete is not an error, so `down` can always be run again. Ordered steps (steps.ts), as `up`:
 * planDown describes the very steps downLab runs.
 */
import type { ReceiverControl } from '../daemon/control.js';
import { clusterEverMade } from '../lab/deployed.js';
import { withLabLock } from '../lab/lock.js';
import type { LabPaths } from '../lab/paths.js';
import { isRealDir, refuseLabSymlinks, removeTree } from '../lab/safety.js';
import { ToolMissing } from '../tools/run.js';
import type { Provider } from './provider.js';
import { describeSteps, type PlannedStep, type Progress, runSteps, type Step, task, unlocked } from './steps.js';

export interface DownDeps {
  provider: Provider;
  receiver: ReceiverControl | null;
  progress: Progress;
}

export interface DownRequest {
  purge: boolean;
  /** Stop the receiver only: the cluster is neither looked for nor deleted. */
  keepCluster: boolean;
}

export interface DownResult {
  labExists: boolean;
  /** Whether a receiver was running and stopped; null when there was no lab to ask. */
  receiverStopped: boolean | null;
  /**
   * What became of the cluster; 'not ours' is one with no lab, left alone; 'never made' a lab
   * `up` never made a cluster for, so none was looked for.
   */
  cluster: 'deleted' | 'absent' | 'not ours' | 'never made' | 'kept' | 'unknown';
  /** The provider's tool is missing, so a cluster this lab may have could not be looked for. */
  missing: ToolMissing | null;
  /** --purge: what was removed. */
  purged: Awaited<ReturnType<typeof removeTree>> | null;
}

/** What `down` is given. */
interface DownInput extends DownDeps {
  o: DownRequest;
  paths: LabPaths;
  labExists: boolean;
}

/** What the steps find and do, each the input of those after it, and in the end the result. */
type DownFacts = Omit<DownResult, 'labExists'> & {
  /** The cluster is the lab's and there: deleted. */
  ours: boolean;
};

type DownContext = DownInput & DownFacts;
type DownStep = Step<DownContext, DownFacts>;

/**
 * The provider's clusters, as they decide this lab's: there and ours (deleted next), or why not.
 * A missing tool is a failure only where a cluster of ours may be.
 */
async function findCluster(c: Readonly<DownContext>): Promise<Partial<DownFacts>> {
  let clusters: string[];
  try {
    clusters = await c.provider.clusters();
  } catch (err) {
    if (!(err instanceof ToolMissing)) throw err;
    // Without the tool nothing can be deleted.
    if (c.labExists && (await clusterEverMade(c.paths))) return { missing: err };
    return { cluster: c.labExists ? 'never made' : 'unknown' };
  }
  // A cluster with no lab is not ours to delete: up never made it, or the lab was purged by hand.
  if (!clusters.includes(c.paths.name)) return { cluster: 'absent' };
  if (!c.labExists) return { cluster: 'not ours' };
  return { ours: true };
}

// The cluster goes before the receiver: its API server sends what it still holds while it stops
// (and a kube-apiserver process whose webhook cannot be reached does not stop on SIGTERM).
// Purging removes the lock with the directory; the lock then finds nothing of its own to remove.
export const DOWN_STEPS: readonly DownStep[] = [
  {
    title: 'find cluster',
    locked: true,
    when: (c) => !c.o.keepCluster,
    describe: (c) => c.provider.planned.clusters(),
    run: findCluster,
    supposes: (c) => (c.labExists ? { ours: true } : { cluster: 'not ours' }),
  },
  {
    title: 'delete cluster',
    locked: true,
    when: (c) => c.ours,
    describe: (c) => c.provider.planned.delete(c.paths.name),
    async run(c) {
      const { name } = c.paths;
      await task(c.progress, `deleting cluster ${name}`, () => c.provider.delete(name), `deleted cluster ${name}`);
    },
    makes: { cluster: 'deleted' },
  },
  {
    title: 'keep cluster',
    locked: true,
    when: (c) => c.o.keepCluster && c.labExists,
    describe: () => [{ note: 'leave the cluster as it is' }],
    run: async (c) => ({ cluster: (await clusterEverMade(c.paths)) ? 'kept' : 'never made' }),
  },
  {
    title: 'stop receiver',
    locked: true,
    when: (c) => c.labExists && c.receiver !== null,
    describe: (c) => [{ note: `stop the receiver of ${c.paths.dir} (its pid file)` }],
    run: async (c) => ({ receiverStopped: await c.receiver!.stop(c.paths) }),
  },
  {
    title: 'purge',
    locked: true,
    when: (c) => c.labExists && c.o.purge,
    describe: (c) => [{ note: `remove ${c.paths.dir} and all in it` }],
    run: async (c) => ({ purged: await removeTree(c.paths.dir) }),
  },
];

async function context(paths: LabPaths, o: DownRequest, deps: DownDeps): Promise<DownContext> {
  // Before anything is stopped or deleted: a lab reached through a link is refused whole.
  await refuseLabSymlinks(paths);
  const labExists = await isRealDir(paths.dir);
  const facts: DownFacts = { receiverStopped: null, cluster: 'unknown', missing: null, purged: null, ours: false };
  return { ...deps, o, paths, labExists, ...facts };
}

export async function downLab(paths: LabPaths, o: DownRequest, deps: DownDeps): Promise<DownResult> {
  const c = await context(paths, o, deps);
  await runSteps(DOWN_STEPS, c, deps.progress, c.labExists ? (fn) => withLabLock(paths, 'down', fn) : unlocked);
  const { labExists, receiverStopped, cluster, missing, purged } = c;
  return { labExists, receiverStopped, cluster, missing, purged };
}

/** The steps `down` would take, supposing the lab's cluster is there; nothing is stopped or deleted. */
export async function planDown(paths: LabPaths, o: DownRequest, deps: DownDeps): Promise<PlannedStep[]> {
  return describeSteps(DOWN_STEPS, await context(paths, o, deps));
}
