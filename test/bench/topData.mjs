// A deterministic, API-server-like audit log for `npm run bench:top`: Metadata events at
// ResponseComplete, as a busy control plane writes them. Seeded: the same arguments give the same
// bytes.

/** Mulberry32: a small seeded generator, so the data never depends on Math.random. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Who calls, with what, how often (weights), as a kind control plane does: leader election,
// controllers' watches and lists, the kubelets, and a few people and pipelines.
const ACTORS = [
  {
    user: 'system:kube-controller-manager',
    agent: 'kube-controller-manager/v1.31.0 (linux/amd64) kubernetes/9edcffc/leader-election',
    w: 14,
    calls: [
      ['update', 'coordination.k8s.io', 'leases', '', 'kube-system'],
      ['get', 'coordination.k8s.io', 'leases', '', 'kube-system'],
    ],
  },
  {
    user: 'system:kube-scheduler',
    agent: 'kube-scheduler/v1.31.0 (linux/amd64) kubernetes/9edcffc/leader-election',
    w: 12,
    calls: [
      ['update', 'coordination.k8s.io', 'leases', '', 'kube-system'],
      ['get', 'coordination.k8s.io', 'leases', '', 'kube-system'],
    ],
  },
  {
    user: 'system:node:kind-control-plane',
    agent: 'kubelet/v1.31.0 (linux/amd64) kubernetes/9edcffc',
    w: 10,
    calls: [
      ['update', 'coordination.k8s.io', 'leases', '', 'kube-node-lease'],
      ['patch', '', 'nodes', 'status', ''],
      ['get', '', 'pods', '', 'kube-system'],
      ['watch', '', 'configmaps', '', 'kube-system'],
    ],
  },
  {
    user: 'system:node:kind-worker',
    agent: 'kubelet/v1.31.0 (linux/amd64) kubernetes/9edcffc',
    w: 9,
    calls: [
      ['update', 'coordination.k8s.io', 'leases', '', 'kube-node-lease'],
      ['patch', '', 'nodes', 'status', ''],
      ['get', '', 'pods', '', 'default'],
      ['patch', '', 'pods', 'status', 'default'],
    ],
  },
  {
    user: 'system:serviceaccount:kube-system:endpointslice-controller',
    agent:
      'kube-controller-manager/v1.31.0 (linux/amd64) kubernetes/9edcffc/system:serviceaccount:kube-system:endpointslice-controller',
    w: 6,
    calls: [
      ['list', 'discovery.k8s.io', 'endpointslices', '', ''],
      ['watch', 'discovery.k8s.io', 'endpointslices', '', ''],
      ['update', 'discovery.k8s.io', 'endpointslices', '', 'default'],
    ],
  },
  {
    user: 'system:serviceaccount:kube-system:replicaset-controller',
    agent:
      'kube-controller-manager/v1.31.0 (linux/amd64) kubernetes/9edcffc/system:serviceaccount:kube-system:replicaset-controller',
    w: 4,
    calls: [
      ['watch', 'apps', 'replicasets', '', ''],
      ['update', 'apps', 'replicasets', 'status', 'default'],
      ['create', '', 'pods', '', 'default'],
    ],
  },
  {
    user: 'system:kube-proxy',
    agent: 'kube-proxy/v1.31.0 (linux/amd64) kubernetes/9edcffc',
    w: 5,
    calls: [
      ['watch', '', 'services', '', ''],
      ['watch', 'discovery.k8s.io', 'endpointslices', '', ''],
      ['list', '', 'nodes', '', ''],
    ],
  },
  {
    user: 'system:serviceaccount:kube-system:coredns',
    agent: 'coredns/v1.11.1 (linux/amd64) kubernetes/9edcffc',
    w: 3,
    calls: [
      ['watch', '', 'services', '', ''],
      ['watch', '', 'namespaces', '', ''],
      ['list', 'discovery.k8s.io', 'endpointslices', '', ''],
    ],
  },
  {
    user: 'system:apiserver',
    agent: 'kube-apiserver/v1.31.0 (linux/amd64) kubernetes/9edcffc',
    w: 4,
    calls: [
      ['get', '', 'namespaces', '', ''],
      ['get', '', 'services', '', 'default'],
      ['list', '', 'resourcequotas', '', 'default'],
    ],
  },
  {
    user: 'kubernetes-admin',
    agent: 'kubectl/v1.31.0 (linux/amd64) kubernetes/9edcffc',
    w: 2,
    calls: [
      ['get', '', 'pods', '', 'default'],
      ['list', '', 'pods', '', 'default'],
      ['get', '', 'pods', 'log', 'default'],
      ['create', 'apps', 'deployments', '', 'default'],
      ['delete', '', 'pods', '', 'default'],
      ['get', '', 'secrets', '', 'default'],
    ],
  },
  {
    user: 'system:serviceaccount:ci:deployer',
    agent: 'argocd-application-controller/v2.12 (linux/amd64)',
    w: 2,
    calls: [
      ['patch', 'apps', 'deployments', '', 'shop'],
      ['get', '', 'configmaps', '', 'shop'],
      ['list', '', 'secrets', '', 'shop'],
      ['watch', 'apps', 'deployments', '', ''],
    ],
  },
  {
    user: 'system:serviceaccount:monitoring:prometheus',
    agent: 'prometheus/2.53.0',
    w: 3,
    calls: [
      ['list', '', 'pods', '', ''],
      ['watch', '', 'endpoints', '', ''],
      ['list', '', 'nodes', '', ''],
    ],
  },
];
const TOTAL_W = ACTORS.reduce((s, a) => s + a.w, 0);

const hex = (r, n) => Array.from({ length: n }, () => Math.floor(r() * 16).toString(16)).join('');
const uuid = (r) => `${hex(r, 8)}-${hex(r, 4)}-4${hex(r, 3)}-8${hex(r, 3)}-${hex(r, 12)}`;
const pad = (n, w) => String(n).padStart(w, '0');

/** RFC 3339 with microseconds, as metav1.MicroTime: 2026-11-29T10:00:00.123456Z. */
function microTime(micros) {
  const d = new Date(Math.floor(micros / 1000));
  return `${d.toISOString().slice(0, 19)}.${pad(micros % 1_000_000, 6)}Z`;
}

/**
 * `count` events at `perSecond` from `startMicros`, each handed to `emit(line, call)` where `call`
 * is { user, verb, group, resource, subresource }. Returns nothing; stream it to a file.
 */
export function generate(
  { count, seed = 14, perSecond = 4000, startMicros = Date.UTC(2026, 10, 29, 10) * 1000 },
  emit,
) {
  const r = rng(seed);
  const step = 1_000_000 / perSecond;
  for (let i = 0; i < count; i++) {
    let pick = r() * TOTAL_W;
    const actor = ACTORS.find((a) => (pick -= a.w) < 0) ?? ACTORS[0];
    const [verb, group, resource, subresource, namespace] = actor.calls[Math.floor(r() * actor.calls.length)];
    const name =
      verb === 'list' || verb === 'watch'
        ? ''
        : resource === 'leases'
          ? actor.user.split(':').pop()
          : `${resource.replace(/s$/, '')}-${hex(r, 5)}`;
    const base = group === '' ? '/api/v1' : `/apis/${group}/v1`;
    const uri = `${base}${namespace ? `/namespaces/${namespace}` : ''}/${resource}${name ? `/${name}` : ''}${subresource ? `/${subresource}` : ''}${verb === 'watch' ? '?watch=true' : ''}`;
    const received = Math.round(startMicros + i * step);
    const code = verb === 'create' ? 201 : r() < 0.02 ? 404 : 200;
    const event = {
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'Metadata',
      auditID: uuid(r),
      stage: 'ResponseComplete',
      requestURI: uri,
      verb,
      user: { username: actor.user, groups: ['system:authenticated'] },
      sourceIPs: ['172.18.0.2'],
      userAgent: actor.agent,
      objectRef: {
        resource,
        ...(namespace ? { namespace } : {}),
        ...(name ? { name } : {}),
        ...(group ? { apiGroup: group } : {}),
        apiVersion: 'v1',
        ...(subresource ? { subresource } : {}),
      },
      responseStatus: { metadata: {}, code },
      requestReceivedTimestamp: microTime(received),
      stageTimestamp: microTime(received + 800 + Math.floor(r() * 5000)),
      annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': '' },
    };
    emit(JSON.stringify(event), { user: actor.user, verb, group, resource, subresource });
  }
}
