/** `audit-lab render`: every generated file, shown, or written into --out; nothing else is touched. */
import { join, resolve } from 'node:path';
import { APISERVER_DIR, NODE_AUDIT_DIR, nameFlag } from '../lab/paths.js';
import { type RenderedLab, type RenderRequest, renderLab } from '../render/labOutput.js';
import { type Common, type Context, pathsFor } from './context.js';

// --- options: what renderCommand.ts parses the flags into ---
export interface RenderOptions extends Common, RenderRequest {
  out?: string;
  /** Sink flags given without --sink: they apply to the default sink, which render says. */
  sinkFlagsAlone?: string[];
}
// --- end options ---

export async function render(o: RenderOptions, ctx: Context): Promise<number> {
  const outDir = o.out !== undefined ? resolve(ctx.io.cwd, o.out) : undefined;
  if (o.sinkFlagsAlone !== undefined && o.sink !== undefined) {
    const flags = o.sinkFlagsAlone.join(', ');
    ctx.out.info(
      `note: ${flags} ${o.sinkFlagsAlone.length === 1 ? 'applies' : 'apply'} to sink ${JSON.stringify(o.sink.name)}, as \`sink create\` without a NAME; --sink NAME renders another`,
    );
  }
  const r = await renderLab(pathsFor(ctx, o.name), o, outDir, ctx.io.env, ctx.out);
  if (r.outDir === undefined) {
    r.files.forEach((f, i) => {
      ctx.out.data(`${i > 0 ? '\n' : ''}# ==> ${f.name} <==\n${f.content}`);
    });
    return 0;
  }
  ctx.out.line(`${r.state.mode} mode, ${r.state.image ?? "kind's default node image"}:`);
  for (const w of r.written) ctx.out.line(`  wrote ${w}`);
  for (const l of nextSteps(r, r.outDir, o.name)) ctx.out.line(l);
  return 0;
}

/**
 * What to do with the files: a new kind cluster made from config.yaml, or a cluster already
 * running given them by hand (the flow for a cluster audit-lab did not make); and the receiver
 * whose CA they trust.
 */
function nextSteps(r: RenderedLab, dir: string, name: string): string[] {
  const config = join(dir, 'config.yaml');
  const running =
    r.state.mode === 'static'
      ? `copy ${join(dir, APISERVER_DIR)}/ to ${NODE_AUDIT_DIR}/ on its control-plane node, add the kube-apiserver flags in ${config} (apiServer.extraArgs), and restart kube-apiserver`
      : `kubectl apply -f ${join(dir, 'audit.yaml')}, once its kube-apiserver runs with the flags in ${config} (apiServer.extraArgs)`;
  const receiver = r.ephemeral
    ? `note: there is no lab ${JSON.stringify(name)}: these files trust the throwaway CA in ${join(dir, 'pki')}/, which no \`audit-lab serve\` uses; to send events to audit-lab, run \`audit-lab serve${nameFlag(name)}\` (it makes the lab) and render again`
    : `  events go to the lab's receiver: \`audit-lab serve${nameFlag(name)}\` runs it`;
  return [
    `next, for a new kind cluster: kind create cluster --name ${name} --config ${config}`,
    `  or, for a cluster already running: ${running}`,
    receiver,
  ];
}
