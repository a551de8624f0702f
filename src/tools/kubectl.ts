/**
 * kubectl verbs. Every call against a cluster names its context (kind-<name>), so the user's
 * current context is never the one changed or read.
 */
import { kubeContext } from './kind.js';
import type { RunOptions, RunResult, Runner } from './run.js';

export function kubectlArgs(cluster: string, args: readonly string[]): string[] {
  return ['--context', kubeContext(cluster), ...args];
}

export const kubectlVerbs = {
  readyz: (cluster: string) => kubectlArgs(cluster, ['get', '--raw', '/readyz']),
  apply: (cluster: string, file: string) => kubectlArgs(cluster, ['apply', '-f', file]),
  version: (cluster: string) => kubectlArgs(cluster, ['version', '-o', 'json']),
  auditSinks: (cluster: string) => kubectlArgs(cluster, ['get', 'auditsinks', '-o', 'name']),
  clientVersion: () => ['version', '--client', '-o', 'json'],
};

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
    readonly cluster: string,
  ) {}

  run(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return this.runner.run('kubectl', kubectlArgs(this.cluster, args), { timeoutMs: 30_000, ...opts });
  }

  /** True when /readyz answers ok; never throws for an API server that is down. */
  async ready(timeoutMs = 10_000): Promise<{ ready: boolean; output: string }> {
    const r = await this.runner.run('kubectl', kubectlVerbs.readyz(this.cluster), { allowFailure: true, timeoutMs });
    return { ready: r.exitCode === 0 && /\bok\b/.test(r.stdout), output: r.output };
  }

  apply(file: string): Promise<RunResult> {
    return this.runner.run('kubectl', kubectlVerbs.apply(this.cluster, file), { timeoutMs: 60_000 });
  }

  async serverVersion(): Promise<string | null> {
    const r = await this.runner.run('kubectl', kubectlVerbs.version(this.cluster), { allowFailure: true, timeoutMs: 15_000 });
    return parseKubectlVersion(r.stdout, 'server');
  }

  async auditSinks(): Promise<string[] | null> {
    const r = await this.runner.run('kubectl', kubectlVerbs.auditSinks(this.cluster), { allowFailure: true });
    if (r.exitCode !== 0) return null;
    return r.stdout
      .split('\n')
      .map((l) => l.trim().replace(/^auditsink[^/]*\//, ''))
      .filter((l) => l !== '');
  }

  static async clientVersion(runner: Runner): Promise<string | null> {
    const r = await runner.run('kubectl', kubectlVerbs.clientVersion(), { timeoutMs: 20_000, allowFailure: true });
    return parseKubectlVersion(r.stdout, 'client') ?? (/Client Version: (v\S+)/.exec(r.output)?.[1] ?? null);
  }
}
