/**
 * kubectl verbs. Every call against a cluster names its context (the provider's: kind-<name> for
 * kind), so the user's current context is never the one changed or read.
 */
import type { RunOptions, RunResult, Runner } from './run.js';

export function kubectlArgs(context: string, args: readonly string[]): string[] {
  return ['--context', context, ...args];
}

export const kubectlVerbs = {
  readyz: (context: string) => kubectlArgs(context, ['get', '--raw', '/readyz']),
  apply: (context: string, file: string) => kubectlArgs(context, ['apply', '-f', file]),
  /** Applies the objects given on stdin. */
  applyStdin: (context: string) => kubectlArgs(context, ['apply', '-f', '-']),
  version: (context: string) => kubectlArgs(context, ['version', '-o', 'json']),
  auditSinks: (context: string) => kubectlArgs(context, ['get', 'auditsinks', '-o', 'name']),
  auditSinkList: (context: string) => kubectlArgs(context, ['get', 'auditsinks', '-o', 'json']),
  deleteAuditSink: (context: string, name: string) =>
    kubectlArgs(context, ['delete', 'auditsink', name, '--ignore-not-found']),
  clientVersion: () => ['version', '--client', '-o', 'json'],
};

/**
 * A context of the user's kubeconfig (KUBECONFIG, else ~/.kube/config) with a cluster and a user
 * of the same name, as kind writes its own: kubectl edits the file, so its locking and merging of
 * KUBECONFIG lists are kubectl's.
 */
export const kubeconfigArgs = {
  set: (name: string, o: { server: string; caFile: string; certFile: string; keyFile: string }): string[][] => [
    [
      'config',
      'set-cluster',
      name,
      `--server=${o.server}`,
      `--certificate-authority=${o.caFile}`,
      '--embed-certs=true',
    ],
    [
      'config',
      'set-credentials',
      name,
      `--client-certificate=${o.certFile}`,
      `--client-key=${o.keyFile}`,
      '--embed-certs=true',
    ],
    ['config', 'set-context', name, `--cluster=${name}`, `--user=${name}`],
  ],
  remove: (name: string): string[][] => [
    ['config', 'unset', `contexts.${name}`],
    ['config', 'unset', `clusters.${name}`],
    ['config', 'unset', `users.${name}`],
  ],
  /** The server URL of the cluster of that name, empty when there is none. */
  server: (name: string): string[] => [
    'config',
    'view',
    '-o',
    `jsonpath={.clusters[?(@.name=="${name}")].cluster.server}`,
  ],
};

/** An AuditSink as the cluster returns it (auditregistration.k8s.io/v1alpha1), the fields audit-lab reads. */
export interface ClusterAuditSink {
  name: string;
  level: string;
  stages: string[];
  /** Absent when the object sets none (the API server's defaults apply). */
  throttle: { qps?: number; burst?: number };
  /** The webhook's URL; absent for a service reference. */
  url?: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A member that must be absent or pass `ok`; undefined when absent, else it or a thrown refusal. */
function optional<T>(v: unknown, ok: (v: unknown) => v is T): T | undefined {
  if (v === undefined) return undefined;
  if (!ok(v)) throw new TypeError('unexpected type');
  return v;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);

function auditSinkItem(item: unknown): ClusterAuditSink {
  if (!isRecord(item)) throw new TypeError('an item is not an object');
  const metadata = optional(item.metadata, isRecord) ?? {};
  const spec = optional(item.spec, isRecord) ?? {};
  const policy = optional(spec.policy, isRecord) ?? {};
  const webhook = optional(spec.webhook, isRecord) ?? {};
  const throttle = optional(webhook.throttle, isRecord) ?? {};
  const clientConfig = optional(webhook.clientConfig, isRecord) ?? {};
  const name = optional(metadata.name, isString);
  const level = optional(policy.level, isString);
  if (name === undefined || level === undefined) throw new TypeError('an item has no name or level');
  const qps = optional(throttle.qps, isNumber);
  const burst = optional(throttle.burst, isNumber);
  const url = optional(clientConfig.url, isString);
  return {
    name,
    level,
    stages: optional(policy.stages, isStrings) ?? [],
    throttle: { ...(qps !== undefined ? { qps } : {}), ...(burst !== undefined ? { burst } : {}) },
    ...(url !== undefined && url !== '' ? { url } : {}),
  };
}

/** `kubectl get auditsinks -o json` -> its AuditSinks; null when it is not such a list. */
export function parseAuditSinkList(json: string): ClusterAuditSink[] | null {
  try {
    const list: unknown = JSON.parse(json);
    if (!isRecord(list)) return null;
    return (optional(list.items, Array.isArray) ?? []).map(auditSinkItem);
  } catch {
    return null;
  }
}

function gitVersion(json: string, key: 'clientVersion' | 'serverVersion'): string | null {
  try {
    const v = (JSON.parse(json) as Record<string, { gitVersion?: unknown } | undefined>)[key]?.gitVersion;
    return typeof v === 'string' ? v : null;
  } catch {
    return null;
  }
}

/** `kubectl version -o json` -> "v1.31.0" (client or server). */
export function parseKubectlVersion(json: string, which: 'client' | 'server'): string | null {
  return gitVersion(json, which === 'client' ? 'clientVersion' : 'serverVersion');
}

export class Kubectl {
  constructor(
    private readonly runner: Runner,
    /** The kubeconfig context every call names. */
    readonly context: string,
  ) {}

  run(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return this.runner.run('kubectl', kubectlArgs(this.context, args), { timeoutMs: 30_000, ...opts });
  }

  /** True when /readyz answers ok; never throws for an API server that is down. */
  async ready(timeoutMs = 10_000): Promise<{ ready: boolean; output: string }> {
    const r = await this.runner.run('kubectl', kubectlVerbs.readyz(this.context), { allowFailure: true, timeoutMs });
    return { ready: r.exitCode === 0 && /\bok\b/.test(r.stdout), output: r.output };
  }

  apply(file: string): Promise<RunResult> {
    return this.runner.run('kubectl', kubectlVerbs.apply(this.context, file), { timeoutMs: 60_000 });
  }

  async serverVersion(): Promise<string | null> {
    const r = await this.runner.run('kubectl', kubectlVerbs.version(this.context), {
      allowFailure: true,
      timeoutMs: 15_000,
    });
    return parseKubectlVersion(r.stdout, 'server');
  }

  /** Applies `doc` (YAML or JSON objects), given on stdin. */
  applyStdin(doc: string, opts: Pick<RunOptions, 'failMessage' | 'hint'> = {}): Promise<RunResult> {
    const argv = kubectlVerbs.applyStdin(this.context);
    return this.runner.run('kubectl', argv, { timeoutMs: 30_000, ...opts, input: doc });
  }

  deleteAuditSink(name: string, opts: Pick<RunOptions, 'failMessage' | 'hint'> = {}): Promise<RunResult> {
    return this.runner.run('kubectl', kubectlVerbs.deleteAuditSink(this.context, name), { timeoutMs: 30_000, ...opts });
  }

  /** The cluster's AuditSinks; null when it cannot be asked or its answer is not a list of them. */
  async auditSinkList(): Promise<ClusterAuditSink[] | null> {
    const argv = kubectlVerbs.auditSinkList(this.context);
    const r = await this.runner.run('kubectl', argv, { allowFailure: true, timeoutMs: 30_000 });
    return r.exitCode === 0 ? parseAuditSinkList(r.stdout) : null;
  }

  async auditSinks(): Promise<string[] | null> {
    const r = await this.runner.run('kubectl', kubectlVerbs.auditSinks(this.context), { allowFailure: true });
    if (r.exitCode !== 0) return null;
    return r.stdout
      .split('\n')
      .map((l) => l.trim().replace(/^auditsink[^/]*\//, ''))
      .filter((l) => l !== '');
  }

  static async clientVersion(runner: Runner): Promise<string | null> {
    const r = await runner.run('kubectl', kubectlVerbs.clientVersion(), { timeoutMs: 20_000, allowFailure: true });
    return parseKubectlVersion(r.stdout, 'client') ?? /Client Version: (v\S+)/.exec(r.output)?.[1] ?? null;
  }
}
