/**
 * What the running API server captures (static mode), as audit-lab last deployed it: one place
 * for `sink create`, `sink delete` and `up`, which restart the API server only when what it
 * captures no longer covers every sink.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { isLevel, isStage, type Level, type Stage, STAGES } from '../audit/model.js';
import type { LabPaths } from './paths.js';

/**
 * Whether `up` ever got as far as making this lab's cluster: only `up` makes one, and it writes
 * the kind config it hands kind first. A lab without that file (one `serve` made) never had a
 * cluster, so a kind that is not installed cannot be hiding one.
 */
export async function clusterEverMade(paths: LabPaths): Promise<boolean> {
  return stat(paths.kindConfig).then(
    () => true,
    (err: NodeJS.ErrnoException) => err.code !== 'ENOENT',
  );
}

/** Marks a capture change the API server has not loaded yet, so a failed restart is retried. */
export const restartPending = (paths: LabPaths) => join(paths.dir, 'restart-pending');

/**
 * What the running API server captures, read back from the policy.yaml it was started with. Null
 * when that file is missing or is not one audit-lab wrote (then only a restart makes sure).
 */
export async function deployedCapture(paths: LabPaths): Promise<{ level: Level; stages: Stage[] } | null> {
  let text: string;
  try {
    text = await readFile(paths.policy, 'utf8');
  } catch {
    return null;
  }
  try {
    await readFile(restartPending(paths));
    return null;
  } catch {
    // No restart pending: the file is what the API server runs with.
  }
  try {
    const p = parse(text) as { rules?: { level?: unknown }[]; omitStages?: unknown[] };
    const level = p.rules?.length === 1 ? p.rules[0]?.level : undefined;
    if (typeof level !== 'string' || !isLevel(level)) return null;
    const omit = (p.omitStages ?? []).map(String);
    if (!omit.every(isStage)) return null;
    return { level, stages: STAGES.filter((s) => !omit.includes(s)) };
  } catch {
    return null;
  }
}
