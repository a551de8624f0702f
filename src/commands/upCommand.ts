/** `audit-lab up`: its flags and help, parsed into UpOptions for up.ts. */
import type { Command, OptionValues } from 'commander';
import {
  capture,
  handler,
  kindConfigApi,
  labName,
  mode,
  oneOf,
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
    provider: oneOf(
      '--provider <provider>',
      'kind (nodes in Docker) or binary (etcd and the API server as local processes, no Docker)',
      ['kind', 'binary'],
      "the lab's, else kind",
    ),
    kubernetesVersion: text(
      '--kubernetes-version <version>',
      'provider binary: the version to download (default: v1.37.2, v1.18.19 with --mode dynamic; v1.13-v1.18 run dynamic mode)',
    ),
    binDir: text('--bin-dir <dir>', 'provider binary: etcd and the Kubernetes binaries already here, no download'),
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
  $ audit-lab up --dry-run                        # print files and commands only
  $ audit-lab up --provider binary                # no Docker: etcd and the API server as processes
  $ audit-lab up --provider binary --kubernetes-version v1.18.19   # dynamic mode, real AuditSinks
  $ audit-lab up --provider binary --bin-dir ~/k8s/bin             # binaries you already have`,
    )
    .action((values: OptionValues) => setup.run(up, { name: labName(values), ...readFlags(flags, values) }));
}
