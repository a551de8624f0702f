import { parse, stringify } from 'yaml';

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
      clusters: [
        { name: 'audit-lab', cluster: { server: input.server, 'certificate-authority-data': b64(input.caPem) } },
      ],
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

/**
 * The CA and client certificate (PEM) a webhook kubeconfig of ours carries, or null when the text
 * is not one: so `status` can tell a kubeconfig rendered from an older PKI from the current one.
 */
export function webhookKubeconfigCerts(text: string): { caPem: string; clientCertPem: string } | null {
  try {
    const doc = parse(text) as {
      clusters?: { cluster?: { 'certificate-authority-data'?: unknown } }[];
      users?: { user?: { 'client-certificate-data'?: unknown } }[];
    } | null;
    const ca = doc?.clusters?.[0]?.cluster?.['certificate-authority-data'];
    const cert = doc?.users?.[0]?.user?.['client-certificate-data'];
    if (typeof ca !== 'string' || typeof cert !== 'string') return null;
    return {
      caPem: Buffer.from(ca, 'base64').toString('utf8'),
      clientCertPem: Buffer.from(cert, 'base64').toString('utf8'),
    };
  } catch {
    return null;
  }
}
