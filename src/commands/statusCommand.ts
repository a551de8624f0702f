/** `audit-lab status`: its flags and help, parsed into StatusOptions for status.ts. */
import type { Command, OptionValues } from 'commander';
import { handler, labName, objectOutput, readFlags, type Setup, withFlags } from './flags.js';

const status = handler('status', async () => (await import('./status.js')).status);

export function declareStatus(parent: Command, setup: Setup): void {
  const flags = { output: objectOutput(['json', 'yaml', 'wide', 'name'], 'lab') };
  const cmd = parent
    .command('status')
    .description('lab, cluster, receiver and sinks at a glance (works with no cluster)');
  withFlags(cmd, flags)
    .addHelpText(
      'after',
      `
Examples:
  $ audit-lab status
  $ audit-lab status --name lab2 -o json | jq .receiver.url
  $ audit-lab status -o wide             # sinks with their --url`,
    )
    .action((values: OptionValues) => setup.run(status, { name: labName(values), ...readFlags(flags, values) }));
}
