/**
 * A sandbox for running the built CLI as a process against fake kind, kubectl and docker: a bin
 * directory that is the whole PATH (the fakes asked for, and node for their shebang), a lab
 * home, the fakes' table, world and call log. Every address a fake reports is loopback.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, type TestContext } from 'vitest';
import { BIN, type CliProcess, type CliResult, runCli, startCli } from '../helpers.js';

export { BIN };
const FAKES = join(import.meta.dirname, 'fakes');

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

export interface Call {
  tool: ToolName;
  args: string[];
  stdin: string;
}

export type Result = CliResult;

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
  const rename = (rows: Row[]) => rows.map((r) => ({ ...r, ...(r.when ? { when: own(r.when) } : {}), ...(r.set ? { set: own(r.set) } : {}) }));
  return { kind: rename(table.kind), kubectl: rename(table.kubectl), docker: rename(table.docker) };
}

/** Two labs' clusters on one machine: `kind get clusters` lists every one that exists. */
export function twoLabsTable(a: string, b: string, o: Omit<WorldOptions, 'name'> = {}): Required<Table> {
  const ta = healthyTable({ ...o, name: a });
  const tb = healthyTable({ ...o, name: b });
  return {
    kind: [{ args: ['get', 'clusters'], when: { [`cluster@${a}`]: true, [`cluster@${b}`]: true }, stdout: `${a}\n${b}\n` }, ...ta.kind.filter((r) => r.args.join(' ') !== 'get clusters' || r.when), ...tb.kind],
    kubectl: [...ta.kubectl, ...tb.kubectl],
    docker: [...ta.docker, ...tb.docker],
  };
}

function oneClusterTable(o: WorldOptions): Required<Table> {
  const name = o.name ?? 'audit-lab';
  const node = `${name}-control-plane`;
  const ctx = ['--context', `kind-${name}`];
  const kubernetes = o.kubernetes ?? 'v1.33.1';
  const info = {
    ServerVersion: '28.1.1',
    OperatingSystem: o.desktop ? 'Docker Desktop' : 'Ubuntu 24.04.2 LTS',
    CgroupVersion: o.cgroup ?? '2',
    ClientInfo: { Version: '28.1.1' },
  };
  const staticFlags = `    - --audit-policy-file=/etc/kubernetes/audit-lab/policy.yaml\n    - --audit-webhook-config-file=/etc/kubernetes/audit-lab/webhook.kubeconfig\n`;
  const dynamicFlags = `    - --audit-dynamic-configuration=true\n    - --feature-gates=DynamicAuditing=true\n`;
  const manifest = `apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - command:\n    - kube-apiserver\n${(o.mode ?? 'static') === 'static' ? staticFlags : dynamicFlags}`;
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
  return {
    kind: [
      { args: ['version'], stdout: `kind v${o.kindVersion ?? '0.29.0'} go1.24.2 linux/amd64\n` },
      { args: ['get', 'clusters'], when: { cluster: true }, stdout: `${name}\n` },
      { args: ['get', 'clusters'], stderr: 'No kind clusters found.\n' },
      { args: ['create', 'cluster', '--name', name, '...'], when: { cluster: false }, stderr: kindCreate, set: { cluster: true, network: true } },
      {
        args: ['create', 'cluster', '--name', name, '...'],
        code: 1,
        stderr: `ERROR: failed to create cluster: node(s) already exist for a cluster with the name "${name}"\n`,
      },
      { args: ['delete', 'cluster', '--name', name], set: { cluster: false, sinksApplied: false }, stderr: `Deleting cluster "${name}" ...\nDeleted nodes: ["${node}"]\n` },
    ],
    kubectl: [
      { args: ['version', '--client', '-o', 'json'], stdout: JSON.stringify({ clientVersion: { gitVersion: 'v1.33.0' } }) },
      { args: [...ctx, 'get', '--raw', '/readyz'], when: { cluster: true, aside: false, neverReady: false }, stdout: 'ok' },
      { args: [...ctx, 'get', '--raw', '/readyz'], code: 1, stderr: 'The connection to the server 127.0.0.1:41234 was refused - did you specify the right host or port?\n' },
      {
        args: [...ctx, 'version', '-o', 'json'],
        when: { cluster: true },
        stdout: JSON.stringify({ clientVersion: { gitVersion: 'v1.33.0' }, serverVersion: { gitVersion: kubernetes } }),
      },
      { args: [...ctx, 'version', '-o', 'json'], code: 1, stdout: JSON.stringify({ clientVersion: { gitVersion: 'v1.33.0' } }) },
      { args: [...ctx, 'apply', '-f', '*'], when: { cluster: true }, set: { sinksApplied: true }, stdout: 'auditsink.auditregistration.k8s.io/default created\n' },
      { args: [...ctx, 'get', 'auditsinks', '-o', 'name'], when: { sinksApplied: true }, stdout: 'auditsink.auditregistration.k8s.io/default\n' },
      { args: [...ctx, 'get', 'auditsinks', '-o', 'name'], stdout: '' },
    ],
    docker: [
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
      { args: ['network', 'inspect', 'kind', '--format', '{{json .IPAM.Config}}'], code: 1, stderr: 'Error response from daemon: network kind not found\n' },
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
        stderr: 'I0101 00:00:01.000000       1 server.go:565] external host was not specified\nE0101 00:00:02.000000       1 run.go:72] "command failed" err="loading audit webhook config: no such file"\n',
      },
    ],
  };
}

/** Rows put before a table's own, so they answer first. */
export function withRows(table: Required<Table>, extra: Table): Required<Table> {
  return {
    kind: [...(extra.kind ?? []), ...table.kind],
    kubectl: [...(extra.kubectl ?? []), ...table.kubectl],
    docker: [...(extra.docker ?? []), ...table.docker],
  };
}

const given = new Set<number>();

/**
 * A free loopback port for a receiver, below the kernel's ephemeral range (32768+), so no outgoing
 * connection of a concurrent test can take it between now and the receiver's listen.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (given.has(port)) continue;
    const free = await new Promise<boolean>((done) => {
      const srv = createServer();
      srv.once('error', () => done(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => done(true)));
    });
    if (free) {
      given.add(port);
      return port;
    }
  }
}

export class Sandbox {
  readonly bin: string;
  readonly home: string;
  readonly tablePath: string;
  readonly worldPath: string;
  readonly logPath: string;
  private constructor(readonly dir: string) {
    this.bin = join(dir, 'bin');
    this.home = join(dir, 'labs');
    this.tablePath = join(dir, 'table.json');
    this.worldPath = join(dir, 'world.json');
    this.logPath = join(dir, 'calls.jsonl');
  }

  /** tools: the fakes on PATH (a missing one is a tool "not installed"). */
  static async create(table: Table, tools: ToolName[] = ['kind', 'kubectl', 'docker']): Promise<Sandbox> {
    const sb = new Sandbox(await mkdtemp(join(tmpdir(), 'audit-lab-lifecycle-')));
    await mkdir(sb.bin);
    await symlink(process.execPath, join(sb.bin, 'node'));
    for (const t of tools) await symlink(join(FAKES, t), join(sb.bin, t));
    await sb.setTable(table);
    await writeFile(sb.logPath, '');
    return sb;
  }

  async setTable(table: Table): Promise<void> {
    await writeFile(this.tablePath, JSON.stringify(table, null, 1));
  }

  async setWorld(flags: Record<string, boolean>): Promise<void> {
    const now = existsSync(this.worldPath) ? (JSON.parse(await readFile(this.worldPath, 'utf8')) as Record<string, boolean>) : {};
    await writeFile(this.worldPath, JSON.stringify({ ...now, ...flags }));
  }

  async world(): Promise<Record<string, boolean>> {
    return existsSync(this.worldPath) ? (JSON.parse(await readFile(this.worldPath, 'utf8')) as Record<string, boolean>) : {};
  }

  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return {
      PATH: this.bin,
      HOME: this.dir,
      AUDIT_LAB_HOME: this.home,
      AUDIT_LAB_FIRST_PORT: process.env.AUDIT_LAB_FIRST_PORT,
      NO_COLOR: '1',
      FAKE_TOOLS_TABLE: this.tablePath,
      FAKE_TOOLS_WORLD: this.worldPath,
      FAKE_TOOLS_LOG: this.logPath,
      AUDIT_LAB_APISERVER_PAUSE_MS: '50',
      AUDIT_LAB_POLL_MS: '20',
      AUDIT_LAB_READY_TIMEOUT_MS: '5000',
      ...extra,
    };
  }

  /** Runs the built CLI to its end as a user would, with this sandbox's PATH and lab home. */
  run(args: readonly string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Result> {
    return runCli(args, { env: this.env(extraEnv), cwd: this.dir });
  }

  /** Starts the built CLI (serve, say) with this sandbox's PATH and lab home; the caller stops it. */
  start(args: readonly string[], extraEnv: NodeJS.ProcessEnv = {}): CliProcess {
    return startCli(args, { env: this.env(extraEnv), cwd: this.dir });
  }

  async calls(tool?: ToolName): Promise<Call[]> {
    const text = await readFile(this.logPath, 'utf8');
    const all = text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Call);
    return tool ? all.filter((c) => c.tool === tool) : all;
  }

  async clearCalls(): Promise<void> {
    await writeFile(this.logPath, '');
  }

  labDir(name = 'audit-lab'): string {
    return join(this.home, name);
  }

  /** The real receiver's pid (first line of the lab's receiver.pid). */
  async receiverPid(name = 'audit-lab'): Promise<number | null> {
    try {
      const pid = Number((await readFile(join(this.labDir(name), 'receiver.pid'), 'utf8')).split('\n')[0]);
      return Number.isInteger(pid) && pid > 0 ? pid : null;
    } catch {
      return null;
    }
  }

  async cleanup(): Promise<void> {
    // Every lab the test made, whatever its name: a failed test must not leave a receiver running.
    const labs = await readdir(this.home).catch(() => [] as string[]);
    for (const name of labs) {
      for (const pid of [await this.receiverPid(name)]) {
        if (pid === null) continue;
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // Already gone.
        }
      }
    }
    if (existsSync(this.logPath + '.errors')) process.stderr.write(readFileSync(this.logPath + '.errors', 'utf8'));
    await rm(this.dir, { recursive: true, force: true });
  }
}

export function hasCall(calls: Call[], tool: ToolName, prefix: string[]): boolean {
  return calls.some((c) => c.tool === tool && prefix.every((p, i) => c.args[i] === p));
}

export { isAlive } from '../../src/lab/process.js';

/** A sandbox removed when its test ends (the test's own hook: the tests run concurrently). */
export async function sandboxFor(t: TestContext, ...args: Parameters<typeof Sandbox.create>): Promise<Sandbox> {
  const sb = await Sandbox.create(...args);
  t.onTestFinished(() => sb.cleanup());
  return sb;
}

/** Asserts exit 0, showing what the CLI said when it was not. */
export function succeeded(r: Result): Result {
  expect(r.code, `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`).toBe(0);
  return r;
}

/** A call as its command line. */
export const callLine = (c: Call) => `${c.tool} ${c.args.join(' ')}`;
