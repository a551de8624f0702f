/**
 * `down`: stop the receiver and delete the cluster; the events stay unless purged. Nothing to
 * delete is not an error, so `down` can always be run again.
 */
import type { ReceiverControl } from '../daemon/control.js';
import { withLabLock } from '../lab/lock.js';
import type { LabPaths } from '../lab/paths.js';
import { isRealDir, refuseLabSymlinks, removeTree } from '../lab/safety.js';
import { ToolMissing } from '../tools/run.js';
import type { Provider } from './provider.js';
import { type Progress, task } from './steps.js';

export interface DownDeps {
  provider: Provider;
  receiver: ReceiverControl | null;
  progress: Progress;
}

export interface DownResult {
  labExists: boolean;
  /** Whether a receiver was running and stopped; null when there was no lab to ask. */
  receiverStopped: boolean | null;
  /** What became of the cluster; 'not ours' is one with no lab, left alone. */
  cluster: 'deleted' | 'absent' | 'not ours' | 'unknown';
  /** The provider's tool is missing, so the cluster could not be looked for. */
  missing: ToolMissing | null;
  /** --purge: what was removed. */
  purged: Awaited<ReturnType<typeof removeTree>> | null;
}

export async function downLab(paths: LabPaths, purge: boolean, deps: DownDeps): Promise<DownResult> {
  // Before anything is stopped or deleted: a lab reached through a link is refused whole.
  await refuseLabSymlinks(paths);
  const labExists = await isRealDir(paths.dir);
  const body = async (): Promise<DownResult> => {
    const r: DownResult = { labExists, receiverStopped: null, cluster: 'unknown', missing: null, purged: null };
    if (labExists && deps.receiver) r.receiverStopped = await deps.receiver.stop(paths);
    let clusters: string[] | null = null;
    try {
      clusters = await deps.provider.clusters();
    } catch (err) {
      if (!(err instanceof ToolMissing)) throw err;
      r.missing = err;
    }
    if (clusters !== null) {
      // A cluster with no lab is not ours to delete: up never made it, or the lab was purged by hand.
      if (!clusters.includes(paths.name)) r.cluster = 'absent';
      else if (!labExists) r.cluster = 'not ours';
      else {
        await task(deps.progress, `deleting cluster ${paths.name}`, () => deps.provider.delete(paths.name), `deleted cluster ${paths.name}`);
        r.cluster = 'deleted';
      }
    }
    if (labExists && purge) r.purged = await removeTree(paths.dir);
    return r;
  };
  // Purging removes the lock with the directory; the lock then finds nothing of its own to remove.
  return labExists ? withLabLock(paths, 'down', body) : body();
}
