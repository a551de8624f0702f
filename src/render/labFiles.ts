import type { LabState } from '../lab/state.js';
import { receiverUrl, sinkWebhook, STATIC_PATH } from '../lab/endpoints.js';
import type { LabPki } from '../lab/pki.js';
import { renderAuditSinks } from './auditSinks.js';
import type { CgroupVersion } from '../lab/host.js';
import { renderKindConfig } from './kindConfig.js';
import { captureFor, renderPolicy } from './policyFile.js';
import { renderWebhookKubeconfig } from './webhookKubeconfig.js';

export type RenderedName = 'config.yaml' | 'audit.yaml' | 'policy.yaml' | 'webhook.kubeconfig';

export interface RenderedFile {
  name: RenderedName;
  content: string;
  /** File mode: anything carrying a key or a sink token is private. */
  mode: number;
}

/**
 * The files the API server reads (static mode), all the node mounts: they go in a directory of
 * their own (APISERVER_DIR, as in a lab), so nothing beside them (the CA key) enters the node.
 */
export function isMounted(name: RenderedName): boolean {
  return name === 'policy.yaml' || name === 'webhook.kubeconfig';
}

export interface RenderPlace {
  /** Absolute host directory mounted into the node (holds policy.yaml and webhook.kubeconfig). */
  mountDir: string;
  /** How the node reaches the receiver. */
  receiverHost: string;
  /** The cgroup version of the host the node runs on; null when unknown (no kubelet patch). */
  hostCgroup: CgroupVersion | null;
}

/** Every file a lab's mode needs, from its state and PKI. Pure: data in, strings out. */
export function renderLabFiles(state: LabState, pki: LabPki, place: RenderPlace): RenderedFile[] {
  const config: RenderedFile = {
    name: 'config.yaml',
    content: renderKindConfig({
      mode: state.mode,
      api: state.kindConfigApi,
      image: state.image,
      mountDir: place.mountDir,
      batchMaxWait: state.webhook.batchMaxWait,
      throttle: state.webhook.throttle,
      hostCgroup: place.hostCgroup,
    }),
    mode: 0o644,
  };
  if (state.mode === 'dynamic') {
    const sinks = state.sinks.map((s) => ({
      ...s,
      ...sinkWebhook(s, place.receiverHost, state.receiver.port, pki.ca.cert),
    }));
    return [config, { name: 'audit.yaml', content: renderAuditSinks(sinks), mode: 0o600 }];
  }
  return [
    config,
    { name: 'policy.yaml', content: renderPolicy(captureFor(state.sinks, state.capture)), mode: 0o644 },
    {
      name: 'webhook.kubeconfig',
      content: renderWebhookKubeconfig({
        server: receiverUrl(place.receiverHost, state.receiver.port, STATIC_PATH),
        caPem: pki.ca.cert,
        clientCertPem: pki.client.cert,
        clientKeyPem: pki.client.key,
      }),
      mode: 0o600,
    },
  ];
}
