/** `audit-lab render`: every generated file, shown, or written into --out; nothing else is touched. */
import { join, resolve } from 'node:path';
import { renderLab } from '../render/labOutput.js';
import { type Context, pathsFor } from './context.js';
import type { RenderOptions } from './options.js';

export async function render(o: RenderOptions, ctx: Context): Promise<number> {
  const outDir = o.out !== undefined ? resolve(ctx.io.cwd, o.out) : undefined;
  const r = await renderLab(pathsFor(ctx, o.name), o, outDir, ctx.io.env, ctx.out);
  if (r.outDir === undefined) {
    r.files.forEach((f, i) => {
      ctx.out.data(`${i > 0 ? '\n' : ''}# ==> ${f.name} <==\n${f.content}`);
    });
    return 0;
  }
  ctx.out.line(`${r.state.mode} mode, ${r.state.image ?? "kind's default node image"}:`);
  for (const w of r.written) ctx.out.line(`  wrote ${w}`);
  ctx.out.line(`next: kind create cluster --name ${o.name} --config ${join(r.outDir, 'config.yaml')}`);
  return 0;
}
