/** The labs under a lab home: `list` shows them, a new lab keeps clear of their ports. */
import { lstat, readdir } from 'node:fs/promises';
import { labPaths, validateLabName } from './paths.js';

const isLabName = (name: string) => {
  try {
    validateLabName(name);
    return true;
  } catch {
    return false;
  }
};

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
    if (await lstat(labPaths(home, name).state).then(() => true, () => false)) found.push(name);
  }
  return found;
}
