import { stringify } from 'yaml';
import type { Throttle } from '../audit/model.js';
import type { CgroupVersion } from '../lab/host.js';
import { type Mode, parseImageVersion } from '../lab/mode.js';
import { NODE_AUDIT_DIR } from '../lab/paths.js';
import type { KindConfigApi } from '../lab/state.js';

export interface KindConfigInput {
  mode: Mode;
  api: KindConfigApi;
  /** Node image, or null for kind's own default. */
  image: string | null;
  /** static: the host directory that holds policy.yaml and webhook.kubeconfig (absolute). */
  mountDir: string;
  batchMaxWait: string;
  throttle: Throttle;
  /** The cgroup version of the host the node runs on (Docker's `CgroupVersion`); null when unknown. */
  hostCgroup: CgroupVersion | null;
}

const VOLUME_NAME = 'audit-lab';

/** Where the API server reads the lab's static-mode files: inside the node for kind, on the host for local processes. */
export interface AuditFilePaths {
  policyFile: string;
  webhookKubeconfig: string;
}

/** Where the kind node's API server reads them: the lab's apiserver directory, mounted. */
export const NODE_AUDIT_FILES: AuditFilePaths = {
  policyFile: `${NODE_AUDIT_DIR}/policy.yaml`,
  webhookKubeconfig: `${NODE_AUDIT_DIR}/webhook.kubeconfig`,
};

/**
 * The API server flags of each mode, for kind's config and the binary provider's kube-apiserver
 * alike; values are strings because kubeadm's extraArgs are. `paths` matter in static mode only.
 */
export function apiServerArgs(
  input: Pick<KindConfigInput, 'mode' | 'batchMaxWait' | 'throttle'>,
  paths: AuditFilePaths,
): Record<string, string> {
  if (input.mode === 'dynamic') {
    return {
      'audit-dynamic-configuration': 'true',
      'feature-gates': 'DynamicAuditing=true',
      'runtime-config': 'auditregistration.k8s.io/v1alpha1=true',
    };
  }
  return {
    'audit-policy-file': paths.policyFile,
    'audit-webhook-config-file': paths.webhookKubeconfig,
    'audit-webhook-batch-max-wait': input.batchMaxWait,
    'audit-webhook-batch-throttle-qps': String(input.throttle.qps),
    'audit-webhook-batch-throttle-burst': String(input.throttle.burst),
  };
}

/**
 * The kubeadm ClusterConfiguration patch. With v1alpha4 it carries no apiVersion: kind matches
 * patches on kind alone, and a version that differs from the one kind picks (v1beta2, v1beta3 or
 * v1beta4 by Kubernetes version) makes the patch silently not apply. The v1alpha3 form is the
 * classic walkthrough's, for kind 0.6-0.8, which always used kubeadm v1beta2.
 */
function clusterConfigurationPatch(input: KindConfigInput): string {
  const patch: Record<string, unknown> = {};
  if (input.api === 'v1alpha3') {
    patch.apiVersion = 'kubeadm.k8s.io/v1beta2';
    patch.kind = 'ClusterConfiguration';
    patch.metadata = { name: 'config' };
  } else {
    patch.kind = 'ClusterConfiguration';
  }
  const apiServer: Record<string, unknown> = { extraArgs: apiServerArgs(input, NODE_AUDIT_FILES) };
  if (input.mode === 'static') {
    apiServer.extraVolumes = [
      {
        name: VOLUME_NAME,
        hostPath: NODE_AUDIT_DIR,
        mountPath: NODE_AUDIT_DIR,
        readOnly: true,
        pathType: 'DirectoryOrCreate',
      },
    ];
  }
  patch.apiServer = apiServer;
  return stringify(patch, { lineWidth: 0 });
}

/**
 * Whether the kubelet must be told to run on a cgroup v1 host: from 1.35 it refuses to unless its
 * KubeletConfiguration says `failCgroupV1: false` (KEP-5573), and kind v0.33 only warns, then
 * kubeadm times out in wait-control-plane. kind's default image (null) is new enough to need it.
 * Older kubelets default to false already (1.31-1.34) or lack the field (kubeadm warns, no harm).
 */
export function needsCgroupV1Patch(input: Pick<KindConfigInput, 'image' | 'hostCgroup' | 'api'>): boolean {
  if (input.hostCgroup !== 1 || input.api !== 'v1alpha4') return false;
  if (input.image === null) return true;
  const v = parseImageVersion(input.image);
  return v.major > 1 || v.minor >= 35;
}

/** Said wherever the patch is added, so the user knows why config.yaml has it. */
export const CGROUP_V1_NOTE =
  'note: this host uses cgroup v1, which kubelet >= 1.35 refuses by default: config.yaml sets failCgroupV1: false in the KubeletConfiguration so the node starts';

/** Unversioned, as the ClusterConfiguration patch: kind matches patches on kind alone. */
function kubeletCgroupV1Patch(): string {
  return stringify({ kind: 'KubeletConfiguration', failCgroupV1: false }, { lineWidth: 0 });
}

export function kindConfig(input: KindConfigInput): Record<string, unknown> {
  const node: Record<string, unknown> = { role: 'control-plane' };
  if (input.image !== null) node.image = input.image;
  if (input.mode === 'static') {
    // A directory, not single files: editors that replace a file would break a file mount.
    node.extraMounts = [{ hostPath: input.mountDir, containerPath: NODE_AUDIT_DIR, readOnly: true }];
  }
  const apiVersion = input.api === 'v1alpha3' ? 'kind.sigs.k8s.io/v1alpha3' : 'kind.x-k8s.io/v1alpha4';
  const patches = [clusterConfigurationPatch(input)];
  if (needsCgroupV1Patch(input)) patches.push(kubeletCgroupV1Patch());
  return { kind: 'Cluster', apiVersion, kubeadmConfigPatches: patches, nodes: [node] };
}

export function renderKindConfig(input: KindConfigInput): string {
  return stringify(kindConfig(input), { lineWidth: 0 });
}
