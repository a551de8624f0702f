/**
 * Policy presets: the YAML files in templates/policies/, shipped with the package ("files" in
 * package.json), found relative to this module so they work from a global install too.
 */
import { readdir, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';

// dist/audit/ and src/audit/ are both two levels below the package root.
export const PRESETS_DIR = fileURLToPath(new URL('../../templates/policies/', import.meta.url));
export const PRESET_PREFIX = 'preset:';

export async function listPresets(dir = PRESETS_DIR): Promise<string[]> {
  const files = await readdir(dir).catch(() => [] as string[]);
  return files
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -'.yaml'.length))
    .sort();
}

export interface PolicySource {
  /** How messages name it: the path as given, or preset:NAME. */
  source: string;
  text: string;
}

/** Reads POLICY: a file (relative to cwd) or preset:NAME. */
export async function readPolicySource(arg: string, cwd: string, dir = PRESETS_DIR): Promise<PolicySource> {
  if (arg.startsWith(PRESET_PREFIX)) {
    const name = arg.slice(PRESET_PREFIX.length);
    const presets = await listPresets(dir);
    if (!presets.includes(name)) {
      throw new UserError(
        `unknown policy preset ${JSON.stringify(name)}: the presets are ${presets.map((p) => PRESET_PREFIX + p).join(', ')}`,
        `e.g. audit-lab policy test ${PRESET_PREFIX}${presets.includes('recommended') ? 'recommended' : (presets[0] ?? 'NAME')} --events FILE`,
      );
    }
    return { source: arg, text: await readFile(resolve(dir, `${name}.yaml`), 'utf8') };
  }
  try {
    return { source: arg, text: await readFile(resolve(cwd, arg), 'utf8') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
    throw new UserError(`cannot read policy ${arg}: ${why}`, `give an audit.k8s.io/v1 Policy file, or one of the presets: ${(await listPresets(dir)).map((p) => PRESET_PREFIX + p).join(', ')}`);
  }
}
