/**
 * What the commands after `up` need from whatever runs the lab's cluster: kind (src/cluster/kind.ts)
 * or the control plane's binaries as local processes (src/cluster/binary.ts). `up` has a step list
 * per provider (up.ts, binaryUp.ts); down, status, list and the sink changes go through this.
 */
import type { DockerInfo } from '../tools/docker.js';
import type { CgroupVersion } from '../lab/host.js';
import type { KindConfigApi } from '../lab/state.js';
import type { Planned, Progress } from './steps.js';
import type { ApiserverTiming } from './apiserver.js';

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
  /** What runs the cluster, as messages name it (kind, binary). */
  readonly name: string;
  /** Clusters that exist, any lab's (binary: this lab's, while its processes run). */
  clusters(): Promise<string[]>;
  delete(name: string): Promise<void>;
  /** The container that runs the cluster's API server (kind), or its process (binary), as messages name it. */
  node(cluster: string): string;
  /** Whether that container or process runs. */
  running(cluster: string): Promise<boolean>;
  /**
   * Restarts the API server so it reads its audit files again (static mode), waiting until it is
   * ready; `describeRestart` is what it runs, for --dry-run.
   */
  restartApiserver(o: { cluster: string; progress: Progress; timing: ApiserverTiming }): Promise<void>;
  describeRestart(cluster: string, timing: ApiserverTiming): Planned[];
  /** What clusters() and delete() run, as --dry-run shows them. */
  planned: { clusters(): Planned[]; delete(name: string): Planned[] };
  /** The kubectl context of the cluster. */
  context(cluster: string): string;
}

/** A provider that makes a cluster of nodes, which reach this machine over a network: kind, for up.ts's steps. */
export interface NodeProvider extends Provider {
  /** The network the node reaches this machine through, as messages name it. */
  readonly nodeNetwork: string;
  create(o: CreateCluster, run: { onLine: (line: string) => void; failMessage: string; hint: string }): Promise<void>;
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
