/**
 * Policy presets: the YAML files in templates/policies/, shipped with the package ("files" in
 * package.json), found relative to this module so they work from a global install too.
 */
import { open, readdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';

// dist/audit/ and src/audit/ are both two levels below the package root.
export const PRESETS_DIR = fileURLToPath(new URL('../../templates/policies/', import.meta.url));
export const PRESET_PREFIX = 'preset:';

/**
 * The most a policy file may hold. A real audit policy is a few KiB (the presets 1-4 KiB); this
 * cap is what keeps a path like /dev/zero or an endless pipe from being read whole.
 */
export const MAX_POLICY_BYTES = 1024 * 1024;

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
        `e.g. audit-lab policy test ${PRESET_PREFIX}${presets.includes('recommended') ? 'recommended' : (presets[0] ?? 'NAME')} --file FILE`,
      );
    }
    return { source: arg, text: await readCapped(resolve(dir, `${name}.yaml`), arg) };
  }
  try {
    return { source: arg, text: await readCapped(resolve(cwd, arg), arg) };
  } catch (err) {
    if (err instanceof UserError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
    throw new UserError(
      `cannot read policy ${arg}: ${why}`,
      `give an audit.k8s.io/v1 Policy file, or one of the presets: ${(await listPresets(dir)).map((p) => PRESET_PREFIX + p).join(', ')}`,
    );
  }
}

/**
 * A policy file's text, read as it comes (a pipe has no positions) and at most one byte past
 * MAX_POLICY_BYTES, which is enough to refuse it: never the whole of an input that may not end.
 */
async function readCapped(path: string, shown: string): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(MAX_POLICY_BYTES + 1);
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, null);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    if (got > MAX_POLICY_BYTES) {
      throw new UserError(
        `policy ${shown} is larger than ${MAX_POLICY_BYTES / 1024 / 1024} MiB, far more than an audit policy holds (a few KiB): it is not read`,
        'give an audit.k8s.io/v1 Policy file (`audit-lab render` writes one, `audit-lab policy suggest` prints one)',
      );
    }
    return buf.toString('utf8', 0, got);
  } finally {
    await fh.close();
  }
}
