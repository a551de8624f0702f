/** `audit-lab down`: its flags and help, parsed into DownOptions for down.ts. */
import type { Command, OptionValues } from 'commander';
import { handler, labName, readFlags, type Setup, switchOn, withFlags } from './flags.js';

const down = handler('down', async () => (await import('./down.js')).down);

export function declareDown(parent: Command, setup: Setup): void {
  const flags = {
    purge: switchOn('--purge', 'also delete the lab directory: state, keys and every stored event'),
    keepCluster: switchOn(
      '--keep-cluster',
      'stop the receiver only; the cluster stays (`audit-lab up` starts the receiver again)',
    ),
  };
  const cmd = parent
    .command('down')
    .description('stop the receiver and delete the cluster; events are kept unless --purge');
  withFlags(cmd, flags)
    .addHelpText(
      'after',
      `
Examples:
  $ audit-lab down
  $ audit-lab down --keep-cluster     # stop the receiver, keep the cluster
  $ audit-lab down --purge`,
    )
    .action((values: OptionValues) => setup.run(down, { name: labName(values), ...readFlags(flags, values) }));
}
