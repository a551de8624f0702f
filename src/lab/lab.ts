import { FALLBACK_NODE_HOST, isWildcardAddress } from './endpoints.js';
import { type LabPki, PKI_FILES, requiredServerNames } from './pki.js';
import { ensurePki, type Reissue } from './pkiIssuer.js';
import { selectMode } from './mode.js';
import { type LabPaths, nameFlag } from './paths.js';
import { pickReceiverPort } from './ports.js';
import { refuseLabSymlinks } from './safety.js';
import { escapeText } from '../ui/escape.js';
import { DEFAULT_SINK, type LabState, newLabState, newSinkState, readState, writeState } from './state.js';

export interface LabHandle {
  paths: LabPaths;
  state: LabState;
  pki: LabPki;
  /** True when this call made the PKI (a lab that had none): a new CA. */
  pkiCreated: boolean;
  /** Leaf certificates this call reissued from the lab CA, and why; the caller tells the user. */
  reissued: Reissue[];
}

/**
 * The lab's state and PKI, made when missing (static mode with kind's default image and the
 * default sink, as `serve` promises). The caller holds the lab lock. The server certificate is
 * reissued when it does not cover the receiver's node-facing host; a lost leaf is reissued, a
 * lost CA is an error (see ensurePki).
 */
export async function ensureLab(paths: LabPaths, init: { now?: Date } = {}): Promise<LabHandle> {
  await refuseLabSymlinks(paths);
  let state = await readState(paths);
  if (state === null) {
    const now = init.now ?? new Date();
    state = newLabState({ name: paths.name, ...selectMode('auto', undefined), now });
    state.receiver.port = await pickReceiverPort(paths.home, paths.name);
    state.sinks.push(newSinkState(DEFAULT_SINK, now));
    await writeState(paths, state);
  }
  const names = requiredServerNames(
    [state.receiver.host ?? FALLBACK_NODE_HOST, state.receiver.address].filter((n) => !isWildcardAddress(n)),
  );
  const { pki, reissued, created: pkiCreated } = await ensurePki(paths.pkiDir, paths.name, names);
  return { paths, state, pki, pkiCreated, reissued };
}

/**
 * A reissued leaf, as told to the user. The receiver's certificate needs nothing more (the
 * cluster trusts the CA, not the leaf). The client certificate is in the cluster's
 * webhook.kubeconfig, which the API server reads only at start: `up` rewrites it and restarts the
 * API server (by: 'up' is that run); anyone else must be told to run it.
 */
export function describeReissue(r: Reissue, paths: LabPaths, mode: LabState['mode'], by: 'up' | 'serve'): string {
  return escapeText(reissueText(r, paths, mode, by));
}

function reissueText(r: Reissue, paths: LabPaths, mode: LabState['mode'], by: 'up' | 'serve'): string {
  if (r.part === 'server') {
    return `reissued the receiver's certificate (${PKI_FILES.serverCert}, ${PKI_FILES.serverKey}) from the lab CA: ${r.reason}`;
  }
  const head = `reissued the API server's client certificate (${PKI_FILES.clientCert}, ${PKI_FILES.clientKey}) from the lab CA: ${r.reason}`;
  if (mode !== 'static') return `${head} (only static mode uses it)`;
  if (by === 'up') return `${head}; ${paths.webhookKubeconfig} is rewritten with it`;
  const labFlag = nameFlag(paths.name);
  return (
    `${head}. ${paths.webhookKubeconfig} still holds the old one, and the API server reads it only at start: ` +
    `run \`audit-lab up${labFlag}\` to rewrite it and restart the API server`
  );
}
