/**
 * `audit-lab ui`: serves the page (src/web/server.ts) for a lab's stored events, or for audit log
 * files given with --file, on 127.0.0.1; prints its URL with the token, opens a browser at a
 * terminal unless --no-open, and runs until SIGINT or SIGTERM. It needs no cluster and starts no
 * receiver: what a running receiver stores shows up as it is stored.
 */
import { resolve } from 'node:path';
import { UserError } from '../errors.js';
import { sourceFor } from '../streams/source.js';
import { openBrowser } from '../tools/browser.js';
import { apiHandler } from '../web/api.js';
import { newUiToken, startUiServer } from '../web/server.js';
import { type Common, type Context, pathsFor } from './context.js';

// --- options: what uiCommand.ts parses the flags into ---
export interface UiOptions extends Common {
  /** Exactly this port; undefined: the first free one from 8900 up. */
  port?: number;
  /** Open a browser (at a terminal only). */
  open: boolean;
  /** Audit log files to show instead of a lab. */
  files: string[];
}
// --- end options ---

export interface UiDeps {
  /** Stops the server; by default SIGINT or SIGTERM of this process. */
  interrupt?: AbortSignal;
  openUrl(url: string): Promise<boolean>;
  /** Called with the server's URL once it listens (tests). */
  onListening?(url: string): void;
}

/** Resolves once SIGINT or SIGTERM comes, or `signal` aborts. */
function stopped(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((done) => {
    if (signal !== undefined) {
      if (signal.aborted) done();
      else signal.addEventListener('abort', () => done(), { once: true });
      return;
    }
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

export async function ui(o: UiOptions, ctx: Context, overrides: Partial<UiDeps> = {}): Promise<number> {
  const deps: UiDeps = { openUrl: (url) => openBrowser(url), ...overrides };
  if (o.files.includes('-'))
    throw new UserError(
      '--file - (standard input) cannot be shown: the page reads its files again for every view',
      'save it to a file and give that',
    );
  const paths = pathsFor(ctx, o.name);
  const files = o.files.map((f) => resolve(ctx.io.cwd, f));
  // An unknown lab is the user's mistake now, not a page of errors later.
  await sourceFor({ files, sinks: [], paths, cwd: ctx.io.cwd });
  const closing = new AbortController();
  const api = apiHandler({ paths, files, cwd: ctx.io.cwd, now: () => Date.now(), signal: closing.signal });
  const server = await startUiServer({ token: newUiToken(), port: o.port, api });
  try {
    ctx.out.line(`audit-lab ui: ${server.url}`);
    deps.onListening?.(server.url);
    if (o.open && ctx.io.stdout.isTTY === true && !(await deps.openUrl(server.url)))
      ctx.out.info('could not open a browser: open the URL above');
    ctx.out.info(ctx.out.errStyle.dim('Ctrl-C stops it'));
    await stopped(deps.interrupt);
  } finally {
    closing.abort();
    await server.close();
  }
  return 0;
}
