/**
 * The labs under a lab home: `list` shows them, a new lab keeps clear of their ports, shell
 * completion offers them (on every <TAB>: node:fs and JSON.parse only, no state validation, no yaml).
 */
import { lstat, readdir, readFile } from 'node:fs/promises';
import { dns1123SubdomainErrors } from '../audit/model.js';
import { isLabName, labPaths } from './paths.js';

/** Names of the directories under `home` that hold a lab's state, sorted; none when there is no home. */
export async function labNames(home: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(home);
  } catch {
    return [];
  }
  const found: string[] = [];
  for (const name of entries.sort()) {
    if (!isLabName(name)) continue;
    if (
      await lstat(labPaths(home, name).state).then(
        () => true,
        () => false,
      )
    )
      found.push(name);
  }
  return found;
}

/**
 * The sink names in lab `name`'s state, in its order, for completion; none if the lab or its state
 * is missing. Names that are not DNS-1123 subdomains (a hand-edited state) are not offered: they
 * could carry control characters into the terminal.
 */
export async function sinkNames(home: string, name: string): Promise<string[]> {
  if (!isLabName(name)) return [];
  try {
    const state: unknown = JSON.parse(await readFile(labPaths(home, name).state, 'utf8'));
    const sinks = (state as { sinks?: unknown }).sinks;
    if (!Array.isArray(sinks)) return [];
    return sinks
      .map((s: unknown) => (s as { name?: unknown } | null)?.name)
      .filter((n): n is string => typeof n === 'string' && dns1123SubdomainErrors(n).length === 0);
  } catch {
    return [];
  }
}
