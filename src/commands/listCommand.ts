/** `audit-lab list`: its flags and help, parsed into ListOptions for list.ts. */
import type { Command, OptionValues } from 'commander';
import { handler, objectOutput, readFlags, type Setup, withFlags } from './flags.js';

const list = handler('list', async () => (await import('./list.js')).list);

export function declareList(parent: Command, setup: Setup): void {
  const flags = { output: objectOutput(['json', 'jsonl', 'yaml', 'wide', 'name'], 'lab') };
  const cmd = parent
    .command('list')
    .description('every lab: mode, Kubernetes version, cluster up or down, receiver, sinks, events stored');
  withFlags(cmd, flags)
    .addHelpText(
      'after',
      `
Examples:
  $ audit-lab list
  $ audit-lab list -o wide               # with receiver pid, node image and lab directory
  $ audit-lab list -o name               # lab/audit-lab`,
    )
    // Every lab: --name names none of them.
    .action((values: OptionValues) => setup.run(list, readFlags(flags, values)));
}
