/** `audit-lab completion SHELL`: its argument and help, for completion.ts. */
import { Argument, type Command } from 'commander';
import type { Shell } from '../completion.js';
import { choice, handler, type Setup } from './flags.js';

const completion = handler('completion', async () => (await import('./completion.js')).completion);

const SHELLS = ['bash', 'zsh', 'fish'] as const satisfies readonly Shell[];

export function declareCompletion(parent: Command, setup: Setup): void {
  const parse = choice('SHELL', SHELLS);
  parent
    .command('completion')
    .description('print a shell completion script: commands, flags, lab names and sink names')
    .addArgument(new Argument('<SHELL>', 'bash, zsh or fish').choices(SHELLS).argParser(parse))
    .addHelpText(
      'after',
      `
Examples:
  $ source <(audit-lab completion bash)                    # in ~/.bashrc
  $ audit-lab completion zsh > "\${fpath[1]}/_audit-lab"   # then restart zsh
  $ audit-lab completion fish > ~/.config/fish/completions/audit-lab.fish`,
    )
    .action((shell: ReturnType<typeof parse>) => setup.run(completion, { shell }));
}
