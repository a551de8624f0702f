/**
 * A generated audit log for `policy suggest`: a cluster's noise (controllers, a kubelet and
 * service accounts reading all the time, health checks, metrics, discovery) around what must
 * never be cut: writes, secret reads (by a controller too), 403s on the very reads that are noise
 * elsewhere, a 401 on a discovery URL and exec (POST and websocket GET). Captured at
 * RequestResponse with RequestReceived and ResponseComplete, so every level can be estimated.
 * Which events are protected is recorded here, as they are made, independently of the CLI.
 */
import { auditEvent } from '../harness/events.js';

export interface NoisyLog {
  lines: string[];
  /** auditIDs of the requests that must keep their level. */
  protectedIds: Set<string>;
}

export interface Who {
  username: string;
  groups: string[];
}

const kcm: Who = { username: 'system:kube-controller-manager', groups: ['system:authenticated'] };
const node: Who = { username: 'system:node:worker-1', groups: ['system:nodes', 'system:authenticated'] };
const agent: Who = {
  username: 'system:serviceaccount:monitoring:agent',
  groups: ['system:serviceaccounts', 'system:serviceaccounts:monitoring', 'system:authenticated'],
};
const exporter: Who = {
  username: 'system:serviceaccount:monitoring:exporter',
  groups: ['system:serviceaccounts', 'system:serviceaccounts:monitoring', 'system:authenticated'],
};
const anonymous: Who = { username: 'system:anonymous', groups: ['system:unauthenticated'] };
// A name no rule can carry through YAML as it is (U+2028 is a line break to the API server's reader).
const oddName: Who = {
  username: 'system:serviceaccount:monitoring:odd\u2028name\x1b[2J',
  groups: ['system:serviceaccounts', 'system:serviceaccounts:monitoring', 'system:authenticated'],
};
const admin: Who = { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] };

export interface Req {
  who: Who | null;
  verb: string;
  uri: string;
  ref?: { resource: string; namespace?: string; name?: string; apiGroup?: string; subresource?: string };
  code?: number;
  req?: unknown;
  resp?: unknown;
  protect?: boolean;
  /** Both RequestReceived and ResponseComplete (default), or only the latter. */
  stages?: 'both' | 'complete';
}

const configMap = (ns: string, name: string) => ({
  kind: 'ConfigMap',
  apiVersion: 'v1',
  metadata: { name, namespace: ns, resourceVersion: '100' },
  data: { 'config.yaml': `${name}: ${'x'.repeat(400)}` },
});
const configMapList = (ns: string) => ({
  kind: 'ConfigMapList',
  apiVersion: 'v1',
  metadata: { resourceVersion: '100' },
  items: [1, 2, 3, 4].map((i) => configMap(ns, `cm-${i}`)),
});
const podList = {
  kind: 'PodList',
  apiVersion: 'v1',
  metadata: {},
  items: [1, 2, 3].map((i) => ({
    metadata: { name: `agent-${i}`, namespace: 'monitoring' },
    spec: { containers: [{ name: 'agent', image: `agent:${'1'.repeat(200)}` }] },
  })),
};
const nodeObject = {
  kind: 'Node',
  apiVersion: 'v1',
  metadata: { name: 'worker-1', labels: { zone: 'z'.repeat(300) } },
  status: { conditions: [{ type: 'Ready', status: 'True' }] },
};
const secret = {
  kind: 'Secret',
  apiVersion: 'v1',
  metadata: { name: 'token', namespace: 'kube-system' },
  data: { token: 'dG9rZW4=' },
};
const lease = {
  kind: 'Lease',
  apiVersion: 'coordination.k8s.io/v1',
  metadata: { name: 'kube-controller-manager', namespace: 'kube-system' },
  spec: { holderIdentity: 'cp-1' },
};
const forbidden = { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Forbidden', code: 403 };

/** Audit events, one request at a time, as the noisy log writes them; ids and times count up. */
export class EventLog {
  readonly lines: string[] = [];
  readonly protectedIds = new Set<string>();
  private n = 0;

  /** Writes the request's events and returns its auditID. */
  emit(r: Req): string {
    this.n++;
    const n = this.n;
    const id = `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
    if (r.protect === true) this.protectedIds.add(id);
    const time = () => new Date(Date.UTC(2026, 0, 1, 10, 0, 0) + n * 37).toISOString().replace('Z', '000Z');
    const stages = r.stages === 'complete' ? ['ResponseComplete'] : ['RequestReceived', 'ResponseComplete'];
    for (const stage of stages) {
      const complete = stage === 'ResponseComplete';
      const e = auditEvent({
        kind: 'Event',
        apiVersion: 'audit.k8s.io/v1',
        level: 'RequestResponse',
        auditID: id,
        stage,
        requestURI: r.uri,
        verb: r.verb,
        user: r.who === null ? {} : { username: r.who.username, groups: r.who.groups },
        sourceIPs: ['10.0.0.7'],
        userAgent: 'generated/1.0',
        objectRef: r.ref ? { apiVersion: 'v1', ...r.ref } : undefined,
        responseStatus: complete ? { metadata: {}, code: r.code ?? 200 } : undefined,
        requestObject: r.req,
        responseObject: complete ? r.resp : undefined,
        requestReceivedTimestamp: time(),
        stageTimestamp: time(),
      });
      this.lines.push(JSON.stringify(e));
    }
    return id;
  }
}

export function noisyLog(): NoisyLog {
  const log = new EventLog();
  const emit = (r: Req) => log.emit(r);
  for (let i = 0; i < 60; i++) {
    // The noise, every round.
    emit({
      who: kcm,
      verb: 'list',
      uri: '/api/v1/namespaces/kube-system/configmaps',
      ref: { resource: 'configmaps', namespace: 'kube-system' },
      resp: configMapList('kube-system'),
    });
    emit({
      who: kcm,
      verb: 'get',
      uri: '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager',
      ref: {
        resource: 'leases',
        apiGroup: 'coordination.k8s.io',
        namespace: 'kube-system',
        name: 'kube-controller-manager',
      },
      resp: lease,
    });
    emit({
      who: node,
      verb: 'get',
      uri: '/api/v1/nodes/worker-1',
      ref: { resource: 'nodes', name: 'worker-1' },
      resp: nodeObject,
    });
    emit({
      who: agent,
      verb: 'list',
      uri: '/api/v1/namespaces/monitoring/pods',
      ref: { resource: 'pods', namespace: 'monitoring' },
      resp: podList,
    });
    emit({
      who: agent,
      verb: 'watch',
      uri: '/api/v1/namespaces/monitoring/pods?watch=true',
      ref: { resource: 'pods', namespace: 'monitoring' },
      stages: 'complete',
    });
    emit({ who: exporter, verb: 'get', uri: '/metrics', stages: 'complete' });
    emit({
      who: oddName,
      verb: 'get',
      uri: '/api/v1/namespaces/monitoring/configmaps/odd',
      ref: { resource: 'configmaps', namespace: 'monitoring', name: 'odd' },
      resp: configMap('monitoring', 'odd'),
    });
    emit({ who: anonymous, verb: 'get', uri: '/healthz', stages: 'complete' });
    emit({ who: node, verb: 'get', uri: '/readyz?verbose', stages: 'complete' });
    emit({
      who: admin,
      verb: 'get',
      uri: i % 2 === 0 ? '/api?timeout=32s' : '/apis/apps/v1?timeout=32s',
      stages: 'complete',
    });
    // Leader election: the read may go, the renewal (a write) stays.
    emit({
      who: kcm,
      verb: 'update',
      uri: '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager',
      ref: {
        resource: 'leases',
        apiGroup: 'coordination.k8s.io',
        namespace: 'kube-system',
        name: 'kube-controller-manager',
      },
      req: lease,
      resp: lease,
      protect: true,
    });
    emit({
      who: node,
      verb: 'patch',
      uri: '/api/v1/nodes/worker-1/status',
      ref: { resource: 'nodes', subresource: 'status', name: 'worker-1' },
      req: { status: {} },
      resp: nodeObject,
      protect: true,
    });
    if (i % 6 === 0) {
      // A controller reading a secret: a read by a system user, protected all the same.
      emit({
        who: kcm,
        verb: 'get',
        uri: '/api/v1/namespaces/kube-system/secrets/token',
        ref: { resource: 'secrets', namespace: 'kube-system', name: 'token' },
        resp: secret,
        protect: true,
      });
      // The noisy read, refused in another namespace: rules cannot see codes, so it keeps its level.
      emit({
        who: kcm,
        verb: 'list',
        uri: '/api/v1/namespaces/locked/configmaps',
        ref: { resource: 'configmaps', namespace: 'locked' },
        code: 403,
        resp: forbidden,
        protect: true,
      });
      // A bad token on a discovery URL: 401, and no user.
      emit({ who: null, verb: 'get', uri: '/api?timeout=32s', code: 401, protect: true, stages: 'complete' });
      // An exec over a websocket is a GET of pods/exec.
      emit({
        who: agent,
        verb: 'get',
        uri: '/api/v1/namespaces/monitoring/pods/agent-1/exec?command=sh',
        ref: { resource: 'pods', subresource: 'exec', namespace: 'monitoring', name: 'agent-1' },
        code: 101,
        protect: true,
      });
    }
    if (i % 10 === 0) {
      const cm = `app-${i}`;
      emit({
        who: admin,
        verb: 'create',
        uri: '/api/v1/namespaces/default/configmaps',
        ref: { resource: 'configmaps', namespace: 'default', name: cm },
        code: 201,
        req: configMap('default', cm),
        resp: configMap('default', cm),
        protect: true,
      });
      emit({
        who: admin,
        verb: 'get',
        uri: `/api/v1/namespaces/default/configmaps/${cm}`,
        ref: { resource: 'configmaps', namespace: 'default', name: cm },
        resp: configMap('default', cm),
      });
      emit({
        who: admin,
        verb: 'delete',
        uri: `/api/v1/namespaces/default/configmaps/${cm}`,
        ref: { resource: 'configmaps', namespace: 'default', name: cm },
        resp: { kind: 'Status' },
        protect: true,
      });
      emit({
        who: admin,
        verb: 'create',
        uri: '/api/v1/namespaces/default/pods/web-1/exec?command=ls',
        ref: { resource: 'pods', subresource: 'exec', namespace: 'default', name: 'web-1' },
        code: 400,
        protect: true,
      });
      emit({
        who: admin,
        verb: 'get',
        uri: '/api/v1/namespaces/kube-system/secrets/token',
        ref: { resource: 'secrets', namespace: 'kube-system', name: 'token' },
        resp: secret,
        protect: true,
      });
    }
  }
  return { lines: log.lines, protectedIds: log.protectedIds };
}
