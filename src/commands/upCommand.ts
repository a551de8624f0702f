/** `audit-lab up`: its flags and help, parsed into UpOptions for up.ts. */
import type { Command, OptionValues } from 'commander';
import {
  capture,
  handler,
  kindConfigApi,
  labName,
  mode,
  parsed,
  port,
  readFlags,
  type Setup,
  switchOff,
  switchOn,
  text,
  withFlags,
} from './flags.js';

const up = handler('up', async () => (await import('./up.js')).up);

export function declareUp(parent: Command, setup: Setup): void {
  const flags = {
    image: text(
      '--image <image>',
      "kind node image, e.g. kindest/node:v1.31.0 (default: kind's own; 1.18.19 in dynamic mode)",
    ),
    mode: mode(),
    sink: switchOff('--no-sink', 'do not create the default sink (Metadata, ResponseComplete)'),
    dryRun: switchOn('--dry-run', 'print every file and command without running any'),
    recreate: switchOn('--recreate', "delete the lab's cluster first and start over"),
    verbose: switchOn('--verbose', 'show the full output of kind and the time of each step'),
    capture: capture(' (given on an existing lab, the API server restarts with it)'),
    kindConfigApi: kindConfigApi('kind config API version, v1alpha3 for kind 0.6-0.8 (default: v1alpha4)'),
    batchMaxWait: text(
      '--batch-max-wait <duration>',
      'static mode: how long the API server holds a batch (default: 100ms)',
    ),
    port: parsed('--port <port>', 'receiver port', port()),
  };
  const cmd = parent
    .command('up')
    .description('create the cluster with auditing wired to the receiver, start the receiver, create the default sink');
  withFlags(cmd, flags)
    .addHelpText(
      'after',
      `
Examples:
  $ audit-lab up
  $ audit-lab up --image kindest/node:v1.18.19   # dynamic mode: real AuditSinks
  $ audit-lab up --dry-run                        # print files and commands only`,
    )
    .action((values: OptionValues) => setup.run(up, { name: labName(values), ...readFlags(flags, values) }));
}
