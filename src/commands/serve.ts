/** `audit-lab serve`: the receiver in the foreground (src/daemon/serve.ts) until SIGINT/SIGTERM. */
import { type ServeSettings, serveReceiver } from '../daemon/serve.js';
import { UserError } from '../errors.js';
import { atLeastOneProblem, listenAddressProblem } from '../lab/state.js';
import { type Common, type Context, pathsFor } from './context.js';

// --- options: what serveCommand.ts parses the flags into ---
/** The settings serve.ts takes (given ones are saved in the lab state), with the lab's name. */
export interface ServeOptions extends Common, ServeSettings {}
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
