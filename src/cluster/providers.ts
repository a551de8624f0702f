/**
 * Which provider runs a lab's cluster: the one its state names (kind for a lab made before there
 * was a choice). The binary provider's modules are loaded only for a lab that uses it.
 */
import type { LabPaths } from '../lab/paths.js';
import { providerOf, readState } from '../lab/state.js';
import type { Tools } from '../tools/index.js';
import { kindProvider } from './kind.js';
import type { Provider } from './provider.js';

/** The provider of the lab at `paths`, read from its state; kind when it has none (or none can be read). */
export async function labProvider(
  paths: LabPaths,
  tools: Pick<Tools, 'kind' | 'docker' | 'kubectl' | 'runner'>,
  env: NodeJS.ProcessEnv,
): Promise<Provider> {
  const state = await readState(paths).catch(() => null);
  if (state === null || providerOf(state) !== 'binary') return kindProvider(tools);
  const { binaryProvider } = await import('./binary.js');
  return binaryProvider(paths, tools, env);
}

/** Whether a binary lab's API server process runs (`list`), its modules loaded only when asked. */
export async function binaryApiserverRuns(paths: LabPaths): Promise<boolean> {
  const { runningComponents } = await import('./binaryPlane.js');
  return (await runningComponents(paths)).includes('kube-apiserver');
}
