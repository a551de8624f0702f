/** `audit-lab serve`: its flags and help, parsed into ServeOptions for serve.ts. */
import { type Command, InvalidArgumentError, Option, type OptionValues } from 'commander';
import {
  capture,
  countAtLeastOne,
  handler,
  labName,
  parsed,
  port,
  readFlags,
  type Setup,
  switchOn,
  text,
  withFlags,
} from './flags.js';

const serve = handler('serve', async () => (await import('./serve.js')).serve);

/** A size in MiB (fractions allowed), as bytes: at least one, as a size that rounds to 0 is none. */
function mebibytes(value: string): number {
  const n = Number(value);
  const bytes = Math.round(n * 1024 * 1024);
  if (value.trim() === '' || !Number.isFinite(n) || !(bytes >= 1)) {
    throw new InvalidArgumentError('--max-stream-size takes a size in MiB of at least one byte (0.000001).');
  }
  return bytes;
}

export function declareServe(parent: Command, setup: Setup): void {
  const flags = {
    address: text('--address <addr>', 'IP address to listen on (saved in the lab)'),
    port: parsed('--port <port>', 'port to listen on (0: any free port, saved for `up` and `tail`)', port(true)),
    maxStreamBytes: parsed(
      '--max-stream-size <MiB>',
      "rotate a sink's stream at this size (default 100; saved in the lab)",
      mebibytes,
    ),
    maxStreamFiles: parsed(
      '--max-stream-files <n>',
      'rotated files kept per sink, oldest removed beyond it (default 5; saved in the lab)',
      countAtLeastOne('--max-stream-files'),
    ),
    capture: capture(' (saved in the lab; `render` writes the policy for your API server)'),
    // `npm run bench:receiver` measures what durability costs with it; no user should lose acknowledged events.
    skipFsync: switchOn(new Option('--skip-fsync-for-benchmark').hideHelp()),
  };
  withFlags(parent.command('serve').description('run the receiver in the foreground'), flags)
    .addHelpText(
      'after',
      `
Examples:
  $ audit-lab serve                              # the lab's address and port (127.0.0.1:8845 for a new lab)
  $ audit-lab serve --port 0                     # any free port, saved for \`up\` and \`tail\`
  $ audit-lab serve --max-stream-size 20 --max-stream-files 3`,
    )
    .action((values: OptionValues) => {
      const { skipFsync, ...rest } = readFlags(flags, values);
      // Off unless given: not even `skipFsync: false` in the options.
      return setup.run(serve, { name: labName(values), ...rest, ...(skipFsync ? { skipFsync: true } : {}) });
    });
}
