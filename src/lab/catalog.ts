/**
 * The names of what a home holds, for shell completion: labs (directories with a state.json) and
 * a lab's sinks. Read on every <TAB>, so it stays cheap: node:fs and JSON.parse only, no state
 * validation (lab/state.ts), no yaml. Only names a completion can offer as typed are returned.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { dns1123SubdomainErrors } from '../audit/model.js';
import { isLabName } from './paths.js';

// Names that are not valid lab or sink names (a hand-edited state) are not offered: they could
// carry control characters into the terminal.
const isSinkName = (n: string) => dns1123SubdomainErrors(n).length === 0;

/** The labs under `home`, sorted: each directory holding a state.json. */
export async function labNames(home: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(home);
  } catch {
    return [];
  }
  const found = await Promise.all(
    entries
      .filter((e) => isLabName(e))
      .map(async (e) => ((await stat(join(home, e, 'state.json')).then((s) => s.isFile(), () => false)) ? e : undefined)),
  );
  return found.filter((e): e is string => e !== undefined).sort();
}

/** The sink names in lab `name`'s state, in its order; none if the lab or its state is missing. */
export async function sinkNames(home: string, name: string): Promise<string[]> {
  if (!isLabName(name)) return [];
  try {
    const state: unknown = JSON.parse(await readFile(join(home, name, 'state.json'), 'utf8'));
    const sinks = (state as { sinks?: unknown }).sinks;
    if (!Array.isArray(sinks)) return [];
    return sinks.map((s: unknown) => (s as { name?: unknown } | null)?.name).filter((n): n is string => typeof n === 'string' && isSinkName(n));
  } catch {
    return [];
  }
}
