/**
 * What the cluster steps need from whatever makes the cluster (kind today, src/cluster/kind.ts):
 * a second provider implements this, and no step changes.
 */
import type { DockerInfo } from '../tools/docker.js';
import type { CgroupVersion } from '../lab/host.js';
import type { KindConfigApi } from '../lab/state.js';

/** How the node reaches this machine, and where the receiver listens for it. */
export interface Reach {
  host: string;
  address: string;
}

export interface CreateCluster {
  name: string;
  config: string;
  image: string | null;
}

export interface Provider {
  /** The tool that makes clusters, as messages name it. */
  readonly name: string;
  /** The network the node reaches this machine through, as messages name it. */
  readonly nodeNetwork: string;
  /** Clusters that exist, any lab's. */
  clusters(): Promise<string[]>;
  create(o: CreateCluster, run: { onLine: (line: string) => void; failMessage: string; hint: string }): Promise<void>;
  delete(name: string): Promise<void>;
  /** The container that runs the cluster's API server. */
  node(cluster: string): string;
  /** The kubectl context of the cluster. */
  context(cluster: string): string;
  /** The provider's progress line as a spinner shows it. */
  progressText(line: string): string;
  /** How the node reaches this machine when it needs no lookup (null: look it up). */
  knownReach(docker: DockerInfo | null): Reach | null;
  /** Looked up; null when not there yet (made with the first cluster). */
  findReach(): Promise<Reach | null>;
  /** Said when findReach answered after the cluster was made. */
  describeReach(reach: Reach): string;
  /** The error when even the new cluster left no way to reach this machine. */
  reachMissing(cluster: string): Error;
  /** Whether the node's kubelet needs telling that the host runs cgroup v1, and what to say then. */
  cgroupV1Note(o: {
    image: string | null;
    api: KindConfigApi;
    hostCgroup: CgroupVersion | null;
  }): Promise<string | null>;
  /** The commands behind each verb, for --dry-run. */
  argv: {
    clusters(): string[];
    create(o: CreateCluster): string[];
    delete(name: string): string[];
    findReach(): string[];
  };
}
