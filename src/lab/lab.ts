import { FALLBACK_NODE_HOST } from '../receiver/endpoints.js';
import { defaultServerNames, ensurePki, type LabPki } from '../receiver/pki.js';
import { selectMode } from './mode.js';
import type { LabPaths } from './paths.js';
import { DEFAULT_SINK, type LabState, newLabState, newSinkState, readState, writeState } from './state.js';

export interface LabHandle {
  paths: LabPaths;
  state: LabState;
  pki: LabPki;
  /** True when this call made the state file. */
  created: boolean;
}

/**
 * The lab's state and PKI, made when missing (static mode with kind's default image and the
 * default sink, as `serve` promises). The caller holds the lab lock. The server certificate is
 * reissued when it does not cover the receiver's node-facing host.
 */
export async function ensureLab(paths: LabPaths, init: { withDefaultSink?: boolean; now?: Date } = {}): Promise<LabHandle> {
  let state = await readState(paths);
  let created = false;
  if (state === null) {
    const now = init.now ?? new Date();
    state = newLabState({ name: paths.name, ...selectMode('auto', undefined), now });
    if (init.withDefaultSink ?? true) state.sinks.push(newSinkState(DEFAULT_SINK, now));
    await writeState(paths, state);
    created = true;
  }
  const names = defaultServerNames([state.receiver.host ?? FALLBACK_NODE_HOST, state.receiver.address].filter((n) => n !== '0.0.0.0' && n !== '::'));
  const { pki } = await ensurePki(paths.pkiDir, paths.name, names);
  return { paths, state, pki, created };
}
