/** The kind provider: clusters made by kind, whose node reaches the host through the kind network. */
import { RuntimeFailure } from '../errors.js';
import { FALLBACK_NODE_HOST } from '../lab/endpoints.js';
import { dockerArgs, KIND_NETWORK } from '../tools/docker.js';
import type { Tools } from '../tools/index.js';
import { controlPlaneNode, kindArgs, kindProgressText, kubeContext } from '../tools/kind.js';
import { describeRestart, restartApiserver } from './apiserver.js';
import type { NodeProvider } from './provider.js';

export function kindProvider(tools: Pick<Tools, 'kind' | 'docker' | 'kubectl'>): NodeProvider {
  return {
    name: 'kind',
    nodeNetwork: `the ${KIND_NETWORK} docker network`,
    clusters: () => tools.kind.clusters(),
    async create(o, run) {
      await tools.kind.createCluster(o, run);
    },
    async delete(name) {
      await tools.kind.deleteCluster(name);
    },
    node: controlPlaneNode,
    running: async (cluster) => (await tools.docker.containerState(controlPlaneNode(cluster))) === 'running',
    restartApiserver: ({ cluster, progress, timing }) =>
      restartApiserver({
        docker: tools.docker,
        kubectl: tools.kubectl(kubeContext(cluster)),
        cluster,
        node: controlPlaneNode(cluster),
        progress,
        timing,
      }),
    describeRestart: (cluster, timing) => describeRestart(controlPlaneNode(cluster), kubeContext(cluster), timing),
    planned: {
      clusters: () => [{ command: ['kind', ...kindArgs.getClusters()] }],
      delete: (name) => [{ command: ['kind', ...kindArgs.deleteCluster(name)] }],
    },
    context: kubeContext,
    progressText: kindProgressText,
    // Docker Desktop names the host; the receiver then listens on loopback, where Desktop forwards.
    knownReach: (docker) => (docker?.desktop ? { host: FALLBACK_NODE_HOST, address: '127.0.0.1' } : null),
    async findReach() {
      const gateway = await tools.docker.gateway(KIND_NETWORK);
      return gateway === null ? null : { host: gateway, address: gateway };
    },
    describeReach: (reach) => `the node reaches this machine at ${reach.host} (gateway of the ${KIND_NETWORK} network)`,
    reachMissing: (cluster) =>
      new RuntimeFailure(
        `kind made cluster ${JSON.stringify(cluster)} but the docker network ${JSON.stringify(KIND_NETWORK)} has no IPv4 gateway audit-lab can use for the receiver`,
        `check \`docker network inspect ${KIND_NETWORK}\`; \`audit-lab render --receiver-host HOST\` shows the files for a host you choose`,
      ),
    // Loaded when asked: `down` and `status` take this provider and need no YAML.
    async cgroupV1Note(o) {
      const { CGROUP_V1_NOTE, needsCgroupV1Patch } = await import('../render/kindConfig.js');
      return needsCgroupV1Patch(o) ? CGROUP_V1_NOTE : null;
    },
    argv: {
      clusters: () => ['kind', ...kindArgs.getClusters()],
      create: (o) => ['kind', ...kindArgs.createCluster(o)],
      delete: (name) => ['kind', ...kindArgs.deleteCluster(name)],
      findReach: () => ['docker', ...dockerArgs.networkInspect(KIND_NETWORK)],
    },
  };
}
