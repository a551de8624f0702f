/** `audit-lab ui`: its flags and help, parsed into UiOptions for ui.ts. */
import type { Command, OptionValues } from 'commander';
import { files, handler, labName, parsed, port, readFlags, type Setup, switchOff, withFlags } from './flags.js';

const ui = handler('ui', async () => (await import('./ui.js')).ui);

export function declareUi(parent: Command, setup: Setup): void {
  const flags = {
    port: parsed('--port <port>', 'serve on this port (default: the first free one from 8900 up)', port()),
    open: switchOff('--no-open', 'print the URL only; do not open a browser (never opened off a terminal)'),
    // Not stdin: the page asks for the events again and again, and stdin can be read once.
    files: files(false),
  };
  withFlags(
    parent.command('ui').description("a page on 127.0.0.1 with the lab's events, requests, groups and policies"),
    flags,
  )
    .addHelpText(
      'after',
      `
Examples:
  $ audit-lab ui                                   # opens the page for the lab's stored events
  $ audit-lab ui --no-open --port 8901             # prints the URL only, on port 8901
  $ audit-lab --name lab2 ui
  $ audit-lab ui --file /var/log/kubernetes/audit/audit*.log*   # audit log files, no lab needed

The page answers on 127.0.0.1 only, to the URL printed (it carries a secret token, then kept in a
cookie); it needs no cluster. Ctrl-C stops it.`,
    )
    .action((values: OptionValues) => setup.run(ui, { name: labName(values), ...readFlags(flags, values) }));
}
