/** Which provider runs a lab's cluster: the one its state names (kind for a lab made before there was a choice). */
import type { LabPaths } from '../lab/paths.js';
import { type LabState, providerOf, readState } from '../lab/state.js';
import type { Tools } from '../tools/index.js';
import { binaryProvider } from './binary.js';
import { kindProvider } from './kind.js';
import type { Provider } from './provider.js';

export function providerFor(
  state: LabState | null,
  paths: LabPaths,
  tools: Pick<Tools, 'kind' | 'docker' | 'kubectl' | 'runner'>,
  env: NodeJS.ProcessEnv,
): Provider {
  return state !== null && providerOf(state) === 'binary' ? binaryProvider(paths, tools, env) : kindProvider(tools);
}

/** The provider of the lab at `paths`, read from its state; kind when it has none (or none can be read). */
export async function labProvider(
  paths: LabPaths,
  tools: Pick<Tools, 'kind' | 'docker' | 'kubectl' | 'runner'>,
  env: NodeJS.ProcessEnv,
): Promise<Provider> {
  const state = await readState(paths).catch(() => null);
  return providerFor(state, paths, tools, env);
}
