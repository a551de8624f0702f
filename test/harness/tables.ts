/**
 * What the fake kind, kubectl and docker (test/lifecycle/fakes) answer: tables of argv -> output,
 * exit code and world flags. Every address a fake reports is loopback.
 */
export type ToolName = 'kind' | 'kubectl' | 'docker';

export interface Row {
  args: string[];
  when?: Record<string, boolean>;
  set?: Record<string, boolean>;
  stdout?: string;
  stderr?: string;
  code?: number;
  sleepMs?: number;
  action?: 'curl';
}

export type Table = Partial<Record<ToolName, Row[]>>;

export const MANIFEST = '/etc/kubernetes/manifests/kube-apiserver.yaml';
export const ASIDE = '/etc/kubernetes/kube-apiserver.yaml.audit-lab';

export interface WorldOptions {
  name?: string;
  /** Docker Desktop (host.docker.internal) rather than Linux (the kind network's gateway). */
  desktop?: boolean;
  cgroup?: '1' | '2';
  kindVersion?: string;
  mode?: 'static' | 'dynamic';
  kubernetes?: string;
}

/** The kind network's gateway as the fakes report it: loopback, so tests only talk to this machine. */
export const GATEWAY = '127.0.0.1';

/** World flags that belong to one cluster; the kind network and the Docker daemon are shared. */
const PER_CLUSTER = new Set(['cluster', 'aside', 'neverReady', 'sinksApplied']);

/**
 * A machine where everything works: the table for kind, kubectl and docker. With `name`, the
 * cluster's flags are that cluster's own (`cluster@NAME`), so tables of two labs can be joined
 * (see twoLabsTable); without it they keep their plain names, as tests set them.
 */
export function healthyTable(o: WorldOptions = {}): Required<Table> {
  const table = oneClusterTable(o);
  if (o.name === undefined) return table;
  const own = (flags?: Record<string, boolean>) =>
    flags && Object.fromEntries(Object.entries(flags).map(([k, v]) => [PER_CLUSTER.has(k) ? `${k}@${o.name}` : k, v]));
  const rename = (rows: Row[]) =>
    rows.map((r) => ({ ...r, ...(r.when ? { when: own(r.when) } : {}), ...(r.set ? { set: own(r.set) } : {}) }));
  return { kind: rename(table.kind), kubectl: rename(table.kubectl), docker: rename(table.docker) };
}

/** Two labs' clusters on one machine: `kind get clusters` lists every one that exists. */
export function twoLabsTable(a: string, b: string, o: Omit<WorldOptions, 'name'> = {}): Required<Table> {
  const ta = healthyTable({ ...o, name: a });
  const tb = healthyTable({ ...o, name: b });
  return {
    kind: [
      { args: ['get', 'clusters'], when: { [`cluster@${a}`]: true, [`cluster@${b}`]: true }, stdout: `${a}\n${b}\n` },
      ...ta.kind.filter((r) => r.args.join(' ') !== 'get clusters' || r.when),
      ...tb.kind,
    ],
    kubectl: [...ta.kubectl, ...tb.kubectl],
    docker: [...ta.docker, ...tb.docker],
  };
}

function oneClusterTable(o: WorldOptions): Required<Table> {
  const name = o.name ?? 'audit-lab';
  return { kind: kindRows(name, o), kubectl: kubectlRows(name, o), docker: dockerRows(name, o) };
}

function kindRows(name: string, o: WorldOptions): Row[] {
  const node = `${name}-control-plane`;
  const kindCreate = [
    `Creating cluster "${name}" ...`,
    ' • Ensuring node image (kindest/node:v1.33.1) 🖼  ...',
    ' ✓ Ensuring node image (kindest/node:v1.33.1) 🖼',
    ' ✓ Preparing nodes 📦',
    ' ✓ Writing configuration 📜',
    ' ✓ Starting control-plane 🕹️',
    ' ✓ Installing CNI 🔌',
    ' ✓ Installing StorageClass 💾',
    `Set kubectl context to "kind-${name}"`,
    '',
  ].join('\n');
  return [
    { args: ['version'], stdout: `kind v${o.kindVersion ?? '0.29.0'} go1.24.2 linux/amd64\n` },
    { args: ['get', 'clusters'], when: { cluster: true }, stdout: `${name}\n` },
    { args: ['get', 'clusters'], stderr: 'No kind clusters found.\n' },
    {
      args: ['create', 'cluster', '--name', name, '...'],
      when: { cluster: false },
      stderr: kindCreate,
      set: { cluster: true, network: true },
    },
    {
      args: ['create', 'cluster', '--name', name, '...'],
      code: 1,
      stderr: `ERROR: failed to create cluster: node(s) already exist for a cluster with the name "${name}"\n`,
    },
    {
      args: ['delete', 'cluster', '--name', name],
      set: { cluster: false, sinksApplied: false },
      stderr: `Deleting cluster "${name}" ...\nDeleted nodes: ["${node}"]\n`,
    },
  ];
}

function kubectlRows(name: string, o: WorldOptions): Row[] {
  const ctx = ['--context', `kind-${name}`];
  const kubernetes = o.kubernetes ?? 'v1.33.1';
  return [
    {
      args: ['version', '--client', '-o', 'json'],
      stdout: JSON.stringify({ clientVersion: { gitVersion: 'v1.33.0' } }),
    },
    {
      args: [...ctx, 'get', '--raw', '/readyz'],
      when: { cluster: true, aside: false, neverReady: false },
      stdout: 'ok',
    },
    {
      args: [...ctx, 'get', '--raw', '/readyz'],
      code: 1,
      stderr: 'The connection to the server 127.0.0.1:41234 was refused - did you specify the right host or port?\n',
    },
    {
      args: [...ctx, 'version', '-o', 'json'],
      when: { cluster: true },
      stdout: JSON.stringify({ clientVersion: { gitVersion: 'v1.33.0' }, serverVersion: { gitVersion: kubernetes } }),
    },
    {
      args: [...ctx, 'version', '-o', 'json'],
      code: 1,
      stdout: JSON.stringify({ clientVersion: { gitVersion: 'v1.33.0' } }),
    },
    {
      args: [...ctx, 'apply', '-f', '*'],
      when: { cluster: true },
      set: { sinksApplied: true },
      stdout: 'auditsink.auditregistration.k8s.io/default created\n',
    },
    {
      args: [...ctx, 'get', 'auditsinks', '-o', 'name'],
      when: { sinksApplied: true },
      stdout: 'auditsink.auditregistration.k8s.io/default\n',
    },
    { args: [...ctx, 'get', 'auditsinks', '-o', 'name'], stdout: '' },
  ];
}

function dockerRows(name: string, o: WorldOptions): Row[] {
  const node = `${name}-control-plane`;
  const info = {
    ServerVersion: '28.1.1',
    OperatingSystem: o.desktop ? 'Docker Desktop' : 'Ubuntu 24.04.2 LTS',
    CgroupVersion: o.cgroup ?? '2',
    ClientInfo: { Version: '28.1.1' },
  };
  const staticFlags = `    - --audit-policy-file=/etc/kubernetes/audit-lab/policy.yaml\n    - --audit-webhook-config-file=/etc/kubernetes/audit-lab/webhook.kubeconfig\n`;
  const dynamicFlags = `    - --audit-dynamic-configuration=true\n    - --feature-gates=DynamicAuditing=true\n`;
  const command = `apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - command:\n    - kube-apiserver\n`;
  const manifest = `${command}${(o.mode ?? 'static') === 'static' ? staticFlags : dynamicFlags}`;
  return [
    { args: ['info', '--format', '{{json .}}'], when: { daemonDown: false }, stdout: `${JSON.stringify(info)}\n` },
    {
      args: ['info', '--format', '{{json .}}'],
      code: 1,
      stdout: `${JSON.stringify({ ServerVersion: '', ClientInfo: { Version: '28.1.1' } })}\n`,
      stderr: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n',
    },
    {
      args: ['network', 'inspect', 'kind', '--format', '{{json .IPAM.Config}}'],
      when: { network: true },
      stdout: `${JSON.stringify([{ Subnet: '127.0.0.0/8', Gateway: GATEWAY }, { Subnet: 'fc00:f853:ccd:e793::/64' }])}\n`,
    },
    {
      args: ['network', 'inspect', 'kind', '--format', '{{json .IPAM.Config}}'],
      code: 1,
      stderr: 'Error response from daemon: network kind not found\n',
    },
    { args: ['inspect', '--format', '{{.State.Status}}', node], when: { cluster: true }, stdout: 'running\n' },
    { args: ['inspect', '--format', '{{.State.Status}}', node], code: 1, stderr: `Error: No such object: ${node}\n` },
    { args: ['exec', node, 'test', '-e', ASIDE], when: { aside: true } },
    { args: ['exec', node, 'test', '-e', ASIDE], code: 1 },
    { args: ['exec', node, 'test', '-e', MANIFEST], when: { aside: false } },
    { args: ['exec', node, 'test', '-e', MANIFEST], code: 1 },
    { args: ['exec', node, 'mv', MANIFEST, ASIDE], set: { aside: true } },
    { args: ['exec', node, 'mv', ASIDE, MANIFEST], set: { aside: false } },
    { args: ['exec', node, 'cat', MANIFEST], stdout: manifest },
    { args: ['exec', node, 'curl', '...'], action: 'curl' },
    { args: ['exec', node, 'crictl', 'ps', '-a', '--name', 'kube-apiserver', '-q'], stdout: '3f2a9c0d1e7b\n' },
    {
      args: ['exec', node, 'crictl', 'logs', '--tail', '30', '3f2a9c0d1e7b'],
      stderr:
        'I0101 00:00:01.000000       1 server.go:565] external host was not specified\nE0101 00:00:02.000000       1 run.go:72] "command failed" err="loading audit webhook config: no such file"\n',
    },
  ];
}

/** Rows put before a table's own, so they answer first. */
export function withRows(table: Required<Table>, extra: Table): Required<Table> {
  return {
    kind: [...(extra.kind ?? []), ...table.kind],
    kubectl: [...(extra.kubectl ?? []), ...table.kubectl],
    docker: [...(extra.docker ?? []), ...table.docker],
  };
}
