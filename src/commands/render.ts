import { join, resolve } from 'node:path';
import { checkSink } from '../audit/model.js';
import { ensurePrivateDir, openToOthers, writeFileAtomic } from '../lab/fsutil.js';
import { selectMode } from '../lab/mode.js';
import { DEFAULT_SINK, type LabState, newLabState, newSinkState, readState, validateDuration } from '../lab/state.js';
import { FALLBACK_NODE_HOST, parseHost } from '../lab/endpoints.js';
import { createPki, defaultServerNames, loadPki, PKI_FILES, savePki, serverCertCovers } from '../lab/pki.js';
import { localCgroup } from '../lab/host.js';
import { CGROUP_V1_NOTE, needsCgroupV1Patch } from '../render/kindConfig.js';
import { renderLabFiles } from '../render/labFiles.js';
import { escapeText } from '../ui/escape.js';
import { type Context, pathsFor } from './context.js';
import type { RenderOptions } from './options.js';

/**
 * The state to render from: the lab's, or the one `up` would make, with the flags applied on top.
 * Pure, so the rules are tested without files.
 */
export function planState(existing: LabState | null, o: RenderOptions, now = new Date()): LabState {
  const keepLabMode = existing !== null && o.image === undefined;
  const selection = selectMode(o.mode ?? (keepLabMode ? existing.mode : 'auto'), o.image ?? existing?.image ?? undefined);
  const base = existing ?? {
    ...newLabState({ name: o.name, ...selection, now }),
    sinks: [newSinkState(DEFAULT_SINK, now)],
  };
  const state: LabState = {
    ...base,
    ...selection,
    webhook: { ...base.webhook },
    receiver: { ...base.receiver },
    sinks: [...base.sinks],
  };
  if (o.kindConfigApi) state.kindConfigApi = o.kindConfigApi;
  if (o.batchMaxWait !== undefined) state.webhook.batchMaxWait = validateDuration('--batch-max-wait', o.batchMaxWait);
  if (o.capture) state.capture = o.capture;
  if (o.port !== undefined) state.receiver.port = o.port;
  if (o.sink) {
    const i = state.sinks.findIndex((s) => s.name === o.sink!.name);
    const before = i >= 0 ? state.sinks[i]! : newSinkState({ ...DEFAULT_SINK, name: o.sink.name }, now);
    const after = { ...before, ...o.sink, throttle: { ...before.throttle, ...o.sink.throttle } };
    checkSink(after);
    if (i >= 0) state.sinks[i] = after;
    else state.sinks.push(after);
  }
  return state;
}

export async function render(o: RenderOptions, ctx: Context): Promise<number> {
  const paths = pathsFor(ctx, o.name);
  const existing = await readState(paths);
  const state = planState(existing, o);
  const receiverHost = o.receiverHost !== undefined ? parseHost('--receiver-host', o.receiverHost, 'e.g. --receiver-host 172.18.0.1') : (state.receiver.host ?? FALLBACK_NODE_HOST);

  let pki = existing ? await loadPki(paths.pkiDir) : null;
  const ephemeral = pki === null;
  if (pki === null) {
    // Render touches nothing: without a lab, certificates are made in memory for this output only.
    pki = await createPki(o.name, defaultServerNames([receiverHost]));
  } else if (!serverCertCovers(pki.server.cert, [receiverHost])) {
    ctx.out.warn(`the receiver's certificate does not cover ${receiverHost} yet; \`audit-lab up\` or \`audit-lab serve\` reissues it`);
  }

  const mountDir = o.out !== undefined ? resolve(ctx.io.cwd, o.out) : paths.apiserverDir;
  const hostCgroup = o.hostCgroup ?? (await localCgroup(ctx.io.env));
  const files = renderLabFiles(state, pki, { mountDir, receiverHost, hostCgroup });
  if (needsCgroupV1Patch({ image: state.image, api: state.kindConfigApi, hostCgroup })) ctx.out.info(CGROUP_V1_NOTE);

  if (state.receiver.host === null && o.receiverHost === undefined) {
    ctx.out.info(
      `note: the receiver is addressed as ${FALLBACK_NODE_HOST} (Docker Desktop); on Linux \`audit-lab up\` uses the kind network's gateway, or pass --receiver-host`,
    );
  }

  if (o.out === undefined) {
    if (ephemeral) ctx.out.info(`note: no lab ${JSON.stringify(o.name)} yet: the certificates shown are throwaway ones, made for this output`);
    files.forEach((f, i) => {
      ctx.out.data(`${i > 0 ? '\n' : ''}# ==> ${f.name} <==\n${f.content}`);
    });
    return 0;
  }

  // An existing directory keeps its mode (it may be shared, like /tmp); the secrets in it are 0600
  // files, but others can still see their names and replace them if they can write there.
  const ensureOutDir = async (dir: string, secrets: string[]) => {
    const mode = await ensurePrivateDir(dir);
    if (secrets.length > 0 && openToOthers(mode)) {
      ctx.out.warn(
        `${escapeText(dir)} is open to other users (mode ${mode.toString(8).padStart(4, '0')}) and gets private keys or tokens (${secrets.join(', ')}); ` +
          'render into a directory only you can use (a new --out directory is made private), or `chmod go-rwx` it',
      );
    }
  };
  await ensureOutDir(mountDir, files.filter((f) => (f.mode & 0o077) === 0).map((f) => f.name));
  for (const f of files) await writeFileAtomic(join(mountDir, f.name), f.content, f.mode);
  const written = files.map((f) => join(mountDir, f.name));
  if (ephemeral) {
    // The rendered kubeconfig and AuditSinks trust this CA: keep it with them so they can be used.
    const pkiDir = join(mountDir, 'pki');
    await ensureOutDir(pkiDir, [PKI_FILES.caKey, PKI_FILES.serverKey, PKI_FILES.clientKey]);
    await savePki(pkiDir, pki);
    written.push(`${pkiDir}/ (${Object.values(PKI_FILES).join(', ')})`);
  }
  ctx.out.line(`${state.mode} mode, ${state.image ?? "kind's default node image"}:`);
  for (const w of written) ctx.out.line(`  wrote ${w}`);
  ctx.out.line(`next: kind create cluster --name ${o.name} --config ${join(mountDir, 'config.yaml')}`);
  return 0;
}
