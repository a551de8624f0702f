/** `audit-lab render`: its flags and help, parsed into RenderOptions for render.ts. */
import type { Command, OptionValues } from 'commander';
import { DEFAULT_SINK_NAME } from '../audit/model.js';
import type { CgroupVersion } from '../lab/host.js';
import {
  capture,
  handler,
  kindConfigApi,
  labName,
  mapped,
  mode,
  normalizeSink,
  oneOf,
  parsed,
  port,
  readFlags,
  type Setup,
  sinkFlags,
  text,
  withFlags,
} from './flags.js';

const render = handler('render', async () => (await import('./render.js')).render);

function renderFlags() {
  return {
    mode: mode(),
    image: text('--image <image>', 'kind node image; its tag decides the mode with --mode auto'),
    out: text('--out <dir>', 'write the files into this directory (default: print them)'),
    kindConfigApi: kindConfigApi('kind config API version (v1alpha3 for kind 0.6-0.8)'),
    batchMaxWait: text(
      '--batch-max-wait <duration>',
      'static mode: how long the API server holds a batch (default 100ms)',
    ),
    receiverHost: text(
      '--receiver-host <host>',
      'how the node reaches the receiver (default: learned by `up`, else host.docker.internal)',
    ),
    port: parsed('--port <port>', 'receiver port', port()),
    capture: capture(' (render only: not saved)'),
    hostCgroup: mapped(
      oneOf(
        '--host-cgroup <version>',
        'cgroup version of the machine the node runs on; v1 with kubelet >= 1.35 adds failCgroupV1: false ' +
          "(default: this machine's, when Docker runs here)",
        ['v1', 'v2'],
      ),
      (v): CgroupVersion | undefined => (v === undefined ? undefined : v === 'v1' ? 1 : 2),
    ),
  };
}

/** --sink and the sink's flags: the change `sink create` would make, rendered. */
function sinkChangeFlags() {
  return {
    sink: text('--sink <name>', 'render with this sink added or changed, as `sink create` would'),
    ...sinkFlags({
      level: 'level of --sink',
      stage: 'stage of --sink (repeatable)',
      qps: 'throttle qps of --sink',
      burst: 'throttle burst of --sink',
    }),
  };
}

export function declareRender(parent: Command, setup: Setup): void {
  const flags = renderFlags();
  const sinkChange = sinkChangeFlags();
  const cmd = parent
    .command('render')
    .description(
      'write every generated file (kind config, AuditSinks, policy, webhook kubeconfig), touching nothing else',
    );
  withFlags(withFlags(cmd, flags), sinkChange)
    .addHelpText(
      'after',
      `
Examples:
  $ audit-lab render                                   # print the files of the lab (or of a new one)
  $ audit-lab render --mode static --out ./files
  $ audit-lab render --image kindest/node:v1.18.19 --kind-config-api v1alpha3
  $ audit-lab render --sink full --level RequestResponse --stage ResponseComplete`,
    )
    .action((values: OptionValues) => {
      const { sink, ...raw } = readFlags(sinkChange, values);
      const alone = [
        raw.level !== undefined && '--level',
        raw.stage.length > 0 && '--stage',
        raw.qps !== undefined && '--qps',
        raw.burst !== undefined && '--burst',
      ].filter((f) => f !== false);
      // The same change `sink create` makes, merged by the same rule (lab/sinks.ts mergeSink).
      const override =
        sink !== undefined || alone.length > 0 ? normalizeSink(sink ?? DEFAULT_SINK_NAME, raw) : undefined;
      return setup.run(render, {
        name: labName(values),
        ...readFlags(flags, values),
        sink: override,
        ...(sink === undefined && alone.length > 0 ? { sinkFlagsAlone: alone } : {}),
      });
    });
}
