/**
 * `audit-lab list`: every lab under the lab home, each told from its state, its receiver and its
 * stored events with status.ts's own collectors, and whether its cluster exists from one cluster
 * list for all labs (one `kind get clusters`, as `kind get clusters` itself). Reads only.
 */
import { UserError } from '../errors.js';
import type { ReceiverControl } from '../daemon/control.js';
import { labNames } from '../lab/labs.js';
import { type LabPaths, labPaths } from '../lab/paths.js';
import { refuseLabSymlinks } from '../lab/safety.js';
import { type LabState, providerOf, readState } from '../lab/state.js';
import type { Provider } from './provider.js';
import { clusterNames, receiverReport, sinkReports, type StatusReport } from './status.js';

export interface LabSummary {
  name: string;
  dir: string;
  mode: LabState['mode'] | null;
  image: string | null;
  /** The node image's Kubernetes version, as the lab's state has it (null: kind's default image). */
  kubernetesVersion: string | null;
  /** Whether the provider lists the lab's cluster; null when the list could not be had. */
  cluster: { exists: boolean | null };
  receiver: Omit<StatusReport['receiver'], 'reachedAt'>;
  sinks: { name: string; events: number }[];
  /** Events stored, all sinks together. */
  events: number;
  /** Why the lab could not be read (an invalid state, a link in its directory), or null. */
  problem: string | null;
}

export interface LabList {
  labs: LabSummary[];
  /** Why the cluster list could not be had (kind missing or failing), or null. */
  clusterError: string | null;
}

/** A binary lab's cluster is its own processes: whether they run, asked per lab. */
export type BinaryClusterUp = (paths: LabPaths) => Promise<boolean>;

async function summary(
  home: string,
  name: string,
  clusters: string[] | null,
  receiver: ReceiverControl | null,
  binaryUp: BinaryClusterUp,
): Promise<LabSummary> {
  const paths = labPaths(home, name);
  const s: LabSummary = {
    name,
    dir: paths.dir,
    mode: null,
    image: null,
    kubernetesVersion: null,
    cluster: { exists: clusters === null ? null : clusters.includes(name) },
    receiver: { running: false, pid: null, url: null, healthy: null },
    sinks: [],
    events: 0,
    problem: null,
  };
  let state: LabState | null;
  try {
    await refuseLabSymlinks(paths);
    state = await readState(paths);
  } catch (err) {
    // One broken lab is that lab's problem, not the list's.
    if (!(err instanceof UserError)) throw err;
    return { ...s, problem: err.message };
  }
  const [rs, sinks] = await Promise.all([receiverReport(paths, state, receiver, true), sinkReports(paths, state)]);
  const { reachedAt: _, ...r } = rs;
  if (state !== null && providerOf(state) === 'binary') s.cluster = { exists: await binaryUp(paths) };
  return {
    ...s,
    mode: state?.mode ?? null,
    image: state?.image ?? null,
    kubernetesVersion: state?.kubernetesVersion ?? null,
    receiver: r,
    sinks: sinks.map((k) => ({ name: k.name, events: k.events })),
    events: sinks.reduce((n, k) => n + k.events, 0),
  };
}

export async function listLabs(
  home: string,
  provider: Pick<Provider, 'clusters'>,
  receiver: ReceiverControl | null,
  binaryUp: BinaryClusterUp,
): Promise<LabList> {
  const names = await labNames(home);
  // No kind lab, no question to kind: `list` on a new machine, or one with binary labs only, needs no kind.
  const kindLabs = await Promise.all(
    names.map(async (n) => {
      const state = await readState(labPaths(home, n)).catch(() => null);
      return state === null || providerOf(state) === 'kind';
    }),
  );
  const clusters = kindLabs.includes(true) ? await clusterNames(provider) : { names: [], error: null };
  const labs = await Promise.all(names.map((n) => summary(home, n, clusters.names, receiver, binaryUp)));
  return { labs, clusterError: clusters.error };
}
