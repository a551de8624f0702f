/** kind verbs: pure argument builders and output parsers, and a thin wrapper over the runner. */
import type { RunOptions, RunResult, Runner } from './run.js';

/** kubectl context kind writes for a cluster. */
export function kubeContext(cluster: string): string {
  return `kind-${cluster}`;
}

/** The single node of a lab's cluster (kind names it <cluster>-control-plane). */
export function controlPlaneNode(cluster: string): string {
  return `${cluster}-control-plane`;
}

export interface CreateClusterArgs {
  name: string;
  config: string;
  /** Node image; null or undefined for the one in the config (or kind's default). */
  image?: string | null;
}

export const kindArgs = {
  createCluster(o: CreateClusterArgs): string[] {
    const args = ['create', 'cluster', '--name', o.name, '--config', o.config];
    if (o.image) args.push('--image', o.image);
    return args;
  },
  deleteCluster(name: string): string[] {
    return ['delete', 'cluster', '--name', name];
  },
  getClusters(): string[] {
    return ['get', 'clusters'];
  },
  version(): string[] {
    return ['version'];
  },
};

/** `kind get clusters` prints one name a line ("No kind clusters found." goes to stderr). */
export function parseKindClusters(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(l));
}

/** "kind v0.11.1 go1.16.4 linux/amd64" -> "0.11.1"; older kinds print "kind v0.8.1 go1.14.2 ...", some just "v0.5.1". */
export function parseKindVersion(text: string): string | null {
  const m = /\bv?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?)/.exec(text);
  return m ? m[1]! : null;
}

/** Strips kind's status decorations ("✓", "•", emoji) from a progress line for a spinner. */
export function kindProgressText(line: string): string {
  return line
    .replace(/[\u2713\u2717\u2022]/g, '')
    .replace(/\p{Extended_Pictographic}\uFE0F?/gu, '')
    .replace(/\s+/g, ' ')
    .trim();
}

export class Kind {
  constructor(private readonly runner: Runner) {}

  createCluster(o: CreateClusterArgs, run: RunOptions = {}): Promise<RunResult> {
    // Pulling a node image on a slow link takes minutes.
    return this.runner.run('kind', kindArgs.createCluster(o), { timeoutMs: 20 * 60_000, ...run });
  }

  deleteCluster(name: string): Promise<RunResult> {
    return this.runner.run('kind', kindArgs.deleteCluster(name), { timeoutMs: 5 * 60_000 });
  }

  async clusters(): Promise<string[]> {
    const r = await this.runner.run('kind', kindArgs.getClusters(), { timeoutMs: 30_000 });
    return parseKindClusters(r.stdout);
  }

  async version(): Promise<{ version: string | null; text: string }> {
    const r = await this.runner.run('kind', kindArgs.version(), { timeoutMs: 20_000 });
    const text = (r.stdout || r.stderr).trim();
    return { version: parseKindVersion(text), text };
  }
}
