import { stringify } from 'yaml';

export interface WebhookKubeconfigInput {
  /** The receiver's static endpoint, as the node reaches it. */
  server: string;
  caPem: string;
  clientCertPem: string;
  clientKeyPem: string;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** The kubeconfig given to --audit-webhook-config-file: where to send, whom to trust, how to prove who we are. */
export function renderWebhookKubeconfig(input: WebhookKubeconfigInput): string {
  return stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'audit-lab', cluster: { server: input.server, 'certificate-authority-data': b64(input.caPem) } }],
      users: [
        {
          name: 'kube-apiserver',
          user: { 'client-certificate-data': b64(input.clientCertPem), 'client-key-data': b64(input.clientKeyPem) },
        },
      ],
      contexts: [{ name: 'audit-lab', context: { cluster: 'audit-lab', user: 'kube-apiserver' } }],
      'current-context': 'audit-lab',
      preferences: {},
    },
    { lineWidth: 0 },
  );
}
