import { statfs } from 'node:fs/promises';

/** The cgroup version of the machine a node runs on. */
export type CgroupVersion = 1 | 2;

/** cgroup2fs's magic number (linux/magic.h): a unified (v2) hierarchy at /sys/fs/cgroup. */
const CGROUP2_SUPER_MAGIC = 0x63677270;

/** What Docker says; a daemon that does not say is older than cgroup v2 support, so v1. */
export function dockerCgroup(info: { cgroupVersion: string | null }): CgroupVersion {
  return info.cgroupVersion === '2' ? 2 : 1;
}

/**
 * This machine's cgroup version, for commands that run no tool (`render`, `up --dry-run`). It
 * is the node's only when Docker runs here: with a remote DOCKER_HOST or off Linux it is unknown.
 */
export async function localCgroup(
  env: NodeJS.ProcessEnv,
  platform = process.platform,
  root = '/sys/fs/cgroup',
): Promise<CgroupVersion | null> {
  const dockerHost = env.DOCKER_HOST ?? '';
  if (platform !== 'linux' || (dockerHost !== '' && !dockerHost.startsWith('unix://'))) return null;
  try {
    return (await statfs(root)).type === CGROUP2_SUPER_MAGIC ? 2 : 1;
  } catch {
    return null;
  }
}
