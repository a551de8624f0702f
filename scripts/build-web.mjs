// Bundles the page of `audit-lab ui` (web/page/, TypeScript + Preact) into dist/web/public/: index.html, app.js and
// app.css. No inline script or style (the server's CSP allows 'self' only), nothing loaded from another origin.
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = `${root}dist/web/public`;

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await build({
  absWorkingDir: root,
  entryPoints: { app: 'web/page/main.tsx' },
  outdir: out,
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  platform: 'browser',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'none',
  logLevel: 'warning',
});
await copyFile(`${root}web/page/index.html`, `${out}/index.html`);
