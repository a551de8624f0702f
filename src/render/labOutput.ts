/**
 * What `render` produces: the lab's files from its state (or the one `up` would make) and its
 * certificates, shown or written into a directory, touching nothing else. Without a lab the
 * certificates are made in memory for this output only: a reader never stands in a new CA for a
 * lab's.
 */
import { join } from 'node:path';
import { FALLBACK_NODE_HOST, parseHost } from '../lab/endpoints.js';
import { ensurePrivateDir, openToOthers, writeFileAtomic } from '../lab/fsutil.js';
import { type CgroupVersion, localCgroup } from '../lab/host.js';
import { APISERVER_DIR, type LabPaths } from '../lab/paths.js';
import { type LabPki, loadPki, PKI_FILES, savePki, serverCertCovers } from '../lab/pki.js';
import { createPki, defaultServerNames } from '../lab/pkiIssuer.js';
import { type PlanRequest, planState } from '../lab/plan.js';
import { type LabState, readState } from '../lab/state.js';
import { escapeText } from '../ui/escape.js';
import { CGROUP_V1_NOTE, needsCgroupV1Patch } from './kindConfig.js';
import { isMounted, type RenderedFile, renderLabFiles } from './labFiles.js';

/** The lab as planned, and where its node is and how its host runs. */
export interface RenderRequest extends PlanRequest {
  /** How the node reaches the receiver; undefined: the lab's, else host.docker.internal. */
  receiverHost?: string;
  /** The node's host cgroup version; undefined: this machine's, when Docker runs here. */
  hostCgroup?: CgroupVersion;
}

/** Where notes and warnings go as they arise (the command's output). */
export interface RenderNotes {
  info(text: string): void;
  warn(text: string): void;
}

export interface RenderedLab {
  state: LabState;
  files: RenderedFile[];
  /** The directory written into; undefined when the files are only shown. */
  outDir?: string;
  /** What was written, one entry a line, when written. */
  written: string[];
  /** No lab: the certificates are throwaway ones, which no lab's receiver has. */
  ephemeral: boolean;
}

/**
 * The lab's files, written into `outDir` when it is given, laid out as in a lab: the node mounts
 * policy.yaml and webhook.kubeconfig from `outDir`/apiserver (without `outDir`, the lab's own).
 */
export async function renderLab(
  paths: LabPaths,
  o: RenderRequest,
  outDir: string | undefined,
  env: NodeJS.ProcessEnv,
  notes: RenderNotes,
): Promise<RenderedLab> {
  const existing = await readState(paths);
  const state = planState(existing, o);
  const receiverHost =
    o.receiverHost !== undefined
      ? parseHost('--receiver-host', o.receiverHost, 'e.g. --receiver-host 172.18.0.1')
      : (state.receiver.host ?? FALLBACK_NODE_HOST);

  let pki = existing ? await loadPki(paths.pkiDir) : null;
  const ephemeral = pki === null;
  if (pki === null) {
    pki = await createPki(o.name, defaultServerNames([receiverHost]));
  } else if (!serverCertCovers(pki.server.cert, [receiverHost])) {
    notes.warn(
      `the receiver's certificate does not cover ${receiverHost} yet; \`audit-lab up\` or \`audit-lab serve\` reissues it`,
    );
  }

  const mountDir = outDir !== undefined ? join(outDir, APISERVER_DIR) : paths.apiserverDir;
  const hostCgroup = o.hostCgroup ?? (await localCgroup(env));
  const files = renderLabFiles(state, pki, { mountDir, receiverHost, hostCgroup });
  if (needsCgroupV1Patch({ image: state.image, api: state.kindConfigApi, hostCgroup })) notes.info(CGROUP_V1_NOTE);

  if (state.receiver.host === null && o.receiverHost === undefined) {
    notes.info(
      `note: the receiver is addressed as ${FALLBACK_NODE_HOST} (Docker Desktop); on Linux \`audit-lab up\` uses the kind network's gateway, or pass --receiver-host`,
    );
  }
  if (outDir === undefined) {
    if (ephemeral)
      notes.info(
        `note: no lab ${JSON.stringify(o.name)} yet: the certificates shown are throwaway ones, made for this output`,
      );
    return { state, files, written: [], ephemeral };
  }
  const written = await writeRendered(outDir, files, ephemeral ? pki : null, notes);
  return { state, files, outDir, written, ephemeral };
}

/**
 * The files into `dir` (the mounted ones into `dir`/apiserver), and the throwaway PKI they trust
 * (when there is no lab's) into `dir`/pki, outside what the node mounts.
 */
async function writeRendered(
  dir: string,
  files: RenderedFile[],
  throwaway: LabPki | null,
  notes: RenderNotes,
): Promise<string[]> {
  // An existing directory keeps its mode (it may be shared, like /tmp); the secrets in it are 0600
  // files, but others can still see their names and replace them if they can write there.
  const ensureOutDir = async (d: string, secrets: string[]) => {
    const mode = await ensurePrivateDir(d);
    if (secrets.length > 0 && openToOthers(mode)) {
      notes.warn(
        `${escapeText(d)} is open to other users (mode ${mode.toString(8).padStart(4, '0')}) and gets private keys or tokens (${secrets.join(', ')}); ` +
          'render into a directory only you can use (a new --out directory is made private), or `chmod go-rwx` it',
      );
    }
  };
  const secrets = (mounted: boolean) =>
    files.filter((f) => isMounted(f.name) === mounted && (f.mode & 0o077) === 0).map((f) => f.name);
  const mountDir = join(dir, APISERVER_DIR);
  await ensureOutDir(dir, secrets(false));
  if (files.some((f) => isMounted(f.name))) await ensureOutDir(mountDir, secrets(true));
  const written: string[] = [];
  for (const f of files) {
    const path = join(isMounted(f.name) ? mountDir : dir, f.name);
    await writeFileAtomic(path, f.content, f.mode);
    written.push(path);
  }
  if (throwaway !== null) {
    // The rendered kubeconfig and AuditSinks trust this CA: keep it with them so they can be used.
    const pkiDir = join(dir, 'pki');
    await ensureOutDir(pkiDir, [PKI_FILES.caKey, PKI_FILES.serverKey, PKI_FILES.clientKey]);
    await savePki(pkiDir, throwaway);
    written.push(`${pkiDir}/ (${Object.values(PKI_FILES).join(', ')})`);
  }
  return written;
}
