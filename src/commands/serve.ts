/** `audit-lab serve`: the receiver in the foreground (src/daemon/serve.ts) until SIGINT/SIGTERM. */
import { serveReceiver } from '../daemon/serve.js';
import { UserError } from '../errors.js';
import { atLeastOneProblem, type Capture, listenAddressProblem } from '../lab/state.js';
import { type Common, type Context, pathsFor } from './context.js';

// --- options: what serveCommand.ts parses the flags into ---
export interface ServeOptions extends Common {
  address?: string;
  port?: number;
  /** Rotate a sink's stream at this size (bytes); saved in the lab state. */
  maxStreamBytes?: number;
  /** Rotated files kept per sink; saved in the lab state. */
  maxStreamFiles?: number;
  /** What the lab's API server captures (static mode); saved in the lab state. */
  capture?: Capture;
  /** For the receiver benchmark only: acknowledge batches without fdatasync (receiver/store/options.ts SKIP_SYNC). */
  skipFsync?: boolean;
}
// --- end options ---

/** --address, with the rule the saved address must meet (IPv6 may come in brackets). */
function parseListenAddress(value: string): string {
  const bare = value.replace(/^\[(.*)\]$/, '$1');
  const problem = listenAddressProblem(bare);
  if (problem !== null)
    throw new UserError(`--address ${problem}`, 'e.g. --address 127.0.0.1, or --address 0.0.0.0 for every interface');
  return bare;
}

export async function serve(o: ServeOptions, ctx: Context): Promise<number> {
  // Every flag is checked before anything is saved (or made): a refused command changes nothing.
  const address = o.address !== undefined ? parseListenAddress(o.address) : undefined;
  if (o.maxStreamBytes !== undefined && atLeastOneProblem(o.maxStreamBytes) !== null) {
    throw new UserError(`--max-stream-size is ${o.maxStreamBytes} bytes: it takes a size of at least one byte`);
  }
  if (o.maxStreamFiles !== undefined && atLeastOneProblem(o.maxStreamFiles) !== null) {
    throw new UserError(`--max-stream-files ${atLeastOneProblem(o.maxStreamFiles)}`);
  }
  const { port, maxStreamBytes, maxStreamFiles, capture, skipFsync } = o;
  return serveReceiver(
    pathsFor(ctx, o.name),
    { address, port, maxStreamBytes, maxStreamFiles, capture, skipFsync },
    { out: ctx.out, stderr: ctx.io.stderr },
  );
}
