import { stringify } from 'yaml';
import type { SinkSpec } from '../audit/model.js';

export interface AuditSinkInput extends SinkSpec {
  /** Where the API server posts: the receiver's endpoint for this sink, or the sink's --url. */
  endpoint: string;
  /** PEM bundle the API server trusts for that endpoint; omitted for an external --url. */
  caPem?: string;
}

/** One auditregistration.k8s.io/v1alpha1 AuditSink, as `kubectl create -f` takes it. */
export function auditSinkObject(sink: AuditSinkInput): Record<string, unknown> {
  const clientConfig: Record<string, unknown> = { url: sink.endpoint };
  if (sink.caPem !== undefined) clientConfig.caBundle = Buffer.from(sink.caPem).toString('base64');
  return {
    apiVersion: 'auditregistration.k8s.io/v1alpha1',
    kind: 'AuditSink',
    metadata: { name: sink.name },
    spec: {
      policy: { level: sink.level, stages: [...sink.stages] },
      webhook: {
        throttle: { qps: sink.throttle.qps, burst: sink.throttle.burst },
        clientConfig,
      },
    },
  };
}

/** Every sink of the lab as one multi-document file (the classic audit.yaml). */
export function renderAuditSinks(sinks: readonly AuditSinkInput[]): string {
  return sinks.map((s) => stringify(auditSinkObject(s), { lineWidth: 0 })).join('---\n');
}
