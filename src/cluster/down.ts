/**
 * `down`: stop the receiver and delete the cluster; the events stay unless purged. Nothing to
 * delete is not an error, so `down` can always be run again.
 */
import type { ReceiverControl } from '../daemon/control.js';
import { clusterEverMade } from '../lab/deployed.js';
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

export async function downLab(paths: LabPaths, o: DownRequest, deps: DownDeps): Promise<DownResult> {
  // Before anything is stopped or deleted: a lab reached through a link is refused whole.
  await refuseLabSymlinks(paths);
  const labExists = await isRealDir(paths.dir);
  const body = async (): Promise<DownResult> => {
    const r: DownResult = { labExists, receiverStopped: null, cluster: 'unknown', missing: null, purged: null };
    if (labExists && deps.receiver) r.receiverStopped = await deps.receiver.stop(paths);
    if (!o.keepCluster) await deleteCluster(paths, labExists, deps, r);
    else if (labExists) r.cluster = (await clusterEverMade(paths)) ? 'kept' : 'never made';
    if (labExists && o.purge) r.purged = await removeTree(paths.dir);
    return r;
  };
  // Purging removes the lock with the directory; the lock then finds nothing of its own to remove.
  return labExists ? withLabLock(paths, 'down', body) : body();
}

async function deleteCluster(paths: LabPaths, labExists: boolean, deps: DownDeps, r: DownResult): Promise<void> {
  let clusters: string[];
  try {
    clusters = await deps.provider.clusters();
  } catch (err) {
    if (!(err instanceof ToolMissing)) throw err;
    // Without the tool nothing can be deleted; that is a failure only where a cluster of ours may be.
    if (labExists && (await clusterEverMade(paths))) r.missing = err;
    else r.cluster = labExists ? 'never made' : 'unknown';
    return;
  }
  // A cluster with no lab is not ours to delete: up never made it, or the lab was purged by hand.
  if (!clusters.includes(paths.name)) r.cluster = 'absent';
  else if (!labExists) r.cluster = 'not ours';
  else {
    await task(deps.progress, `deleting cluster ${paths.name}`, () => deps.provider.delete(paths.name), `deleted cluster ${paths.name}`);
    r.cluster = 'deleted';
  }
}
