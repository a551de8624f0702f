/** docker verbs: pure argument builders and output parsers, and a thin wrapper over the runner. */
import { isIP } from 'node:net';
import type { RunOptions, RunResult, Runner } from './run.js';

/** The docker network kind puts its nodes on. */
export const KIND_NETWORK = 'kind';

export const dockerArgs = {
  info: () => ['info', '--format', '{{json .}}'],
  networkInspect: (network: string) => ['network', 'inspect', network, '--format', '{{json .IPAM.Config}}'],
  exec: (container: string, command: readonly string[], o: { stdin?: boolean } = {}) => [
    'exec',
    ...(o.stdin ? ['-i'] : []),
    container,
    ...command,
  ],
  containerState: (container: string) => ['inspect', '--format', '{{.State.Status}}', container],
};

export interface DockerInfo {
  serverVersion: string | null;
  operatingSystem: string | null;
  /** "1" or "2", as docker reports it; null when it does not say (old daemons: v1). */
  cgroupVersion: string | null;
  serverErrors: string[];
  /** Docker Desktop: the host is host.docker.internal from inside containers. */
  desktop: boolean;
}

export function parseDockerInfo(stdout: string): DockerInfo | null {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(stdout.trim().split('\n')[0] ?? '') as Record<string, unknown>;
  } catch {
    return null;
  }
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null);
  const os = str(raw.OperatingSystem);
  return {
    serverVersion: str(raw.ServerVersion),
    operatingSystem: os,
    cgroupVersion: str(raw.CgroupVersion),
    serverErrors: Array.isArray(raw.ServerErrors) ? raw.ServerErrors.map(String) : [],
    desktop: os !== null && /Docker Desktop/i.test(os),
  };
}

/** The IPv4 gateway of a network, from `docker network inspect --format '{{json .IPAM.Config}}'`. */
export function parseGateway(stdout: string): string | null {
  let configs: unknown;
  try {
    configs = JSON.parse(stdout.trim());
  } catch {
    return null;
  }
  if (!Array.isArray(configs)) return null;
  for (const c of configs as { Gateway?: unknown; Subnet?: unknown }[]) {
    if (typeof c?.Gateway === 'string' && isIP(c.Gateway) === 4) return c.Gateway;
  }
  // Some daemons leave Gateway out of IPAM.Config; the bridge then takes the subnet's first address.
  for (const c of configs as { Subnet?: unknown }[]) {
    const m = typeof c?.Subnet === 'string' ? /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(c.Subnet) : null;
    if (m) {
      const bits = Number(m[5]);
      const n = ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
      const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
      const gw = ((n & mask) + 1) >>> 0;
      return [gw >>> 24, (gw >>> 16) & 255, (gw >>> 8) & 255, gw & 255].join('.');
    }
  }
  return null;
}

export class Docker {
  constructor(private readonly runner: Runner) {}

  /** Never throws for a daemon that is down: the caller says what to do about it. */
  info(): Promise<RunResult> {
    return this.runner.run('docker', dockerArgs.info(), { allowFailure: true, timeoutMs: 30_000 });
  }

  /** The network's IPv4 gateway, or null when the network does not exist (yet). */
  async gateway(network = KIND_NETWORK): Promise<string | null> {
    const r = await this.runner.run('docker', dockerArgs.networkInspect(network), {
      allowFailure: true,
      timeoutMs: 30_000,
    });
    if (r.exitCode !== 0) return null;
    return parseGateway(r.stdout);
  }

  exec(container: string, command: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return this.runner.run('docker', dockerArgs.exec(container, command, { stdin: opts.input !== undefined }), {
      timeoutMs: 60_000,
      ...opts,
    });
  }

  /** "running", "exited", ...; null when there is no such container. */
  async containerState(container: string): Promise<string | null> {
    const r = await this.runner.run('docker', dockerArgs.containerState(container), {
      allowFailure: true,
      timeoutMs: 30_000,
    });
    return r.exitCode === 0 ? r.stdout.trim() || null : null;
  }
}
