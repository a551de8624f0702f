/** `audit-lab version`: its flags and help, parsed into VersionOptions for version.ts. */
import type { Command, OptionValues } from 'commander';
import { handler, output, readFlags, type Setup, withFlags } from './flags.js';

const version = handler('version', async () => (await import('./version.js')).version);

export function declareVersion(parent: Command, setup: Setup): void {
  const flags = { output: output(['json', 'yaml'], 'json or yaml (default: one line each)', 'table') };
  const cmd = parent
    .command('version')
    .description('print the versions of audit-lab and Node.js, and the platform (as kubectl version)');
  withFlags(cmd, flags)
    .addHelpText(
      'after',
      `
Examples:
  $ audit-lab version
  $ audit-lab version -o json | jq -r .auditLab
  $ audit-lab --version                  # the version of audit-lab alone`,
    )
    .action((values: OptionValues) => setup.run(version, { version: setup.version, ...readFlags(flags, values) }));
}
