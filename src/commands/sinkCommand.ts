/** `audit-lab sink create | list | delete`: their flags and help, parsed into the options of sink.ts. */
import type { Command, OptionValues } from 'commander';
import { DEFAULT_BURST, DEFAULT_QPS, DEFAULT_SINK_NAME } from '../audit/model.js';
import {
  handler,
  labName,
  normalizeSink,
  objectOutput,
  readFlags,
  type Setup,
  sinkFlags,
  switchOn,
  text,
  withFlags,
} from './flags.js';

const sinkCreate = handler('sinkCreate', async () => (await import('./sink.js')).sinkCreate);
const sinkList = handler('sinkList', async () => (await import('./sink.js')).sinkList);
const sinkDelete = handler('sinkDelete', async () => (await import('./sink.js')).sinkDelete);

export function declareSink(parent: Command, setup: Setup): void {
  const sink = parent
    .command('sink')
    .description('create, list and delete audit sinks (level + stages, as the AuditSink API had)')
    .addHelpText(
      'after',
      `
Examples:
  $ audit-lab sink create --level Metadata --stage ResponseComplete
  $ audit-lab sink create full --level RequestResponse --stage RequestReceived,ResponseComplete
  $ audit-lab sink list --json
  $ audit-lab sink delete full`,
    );
  declareCreate(sink, setup);

  const list = { output: objectOutput(['json', 'jsonl', 'yaml', 'wide', 'name'], 'sink') };
  const listCmd = sink
    .command('list')
    .description('list sinks: level, stages, throttle, target, events stored, last event');
  withFlags(listCmd, list)
    .addHelpText(
      'after',
      `
Examples:
  $ audit-lab sink list
  $ audit-lab sink list -o jsonl | jq -r 'select(.events > 0) | .name'
  $ audit-lab sink list -o name          # sink/default`,
    )
    .action((values: OptionValues) => setup.run(sinkList, { name: labName(values), ...readFlags(list, values) }));

  sink
    .command('delete')
    .description('delete a sink (its stored events are kept)')
    .argument('<NAME>', 'sink name')
    .addHelpText(
      'after',
      `
Examples:
  $ audit-lab sink delete full`,
    )
    .action((sinkName: string, values: OptionValues) => setup.run(sinkDelete, { name: labName(values), sinkName }));
}

function declareCreate(sink: Command, setup: Setup): void {
  const flags = {
    ...sinkFlags({
      level: 'audit level, any case (default: Metadata)',
      stage: 'stages to send, any case; repeat or comma-separate (default: ResponseComplete)',
      qps: `throttle: events batches per second (default: ${DEFAULT_QPS})`,
      burst: `throttle: burst (default: ${DEFAULT_BURST})`,
    }),
    url: text(
      '--url <url>',
      'also send to this endpoint: https://host[/path]; plain http only to loopback (127.0.0.1, [::1], localhost)',
    ),
    insecureHttp: switchOn(
      '--insecure-http',
      '--url may be plain http to another host (events, Secrets included, go in clear text)',
    ),
    policy: text(
      '--policy <file>',
      'static mode: a full audit Policy for this sink instead of one level: ' +
        'a file, or preset:NAME (metadata, recommended, request-response)',
    ),
    dryRun: switchOn('--dry-run', 'print the AuditSink or policy change, change nothing'),
  };
  const cmd = sink
    .command('create')
    .description('add a sink, or update the one with that name')
    .argument('[NAME]', 'sink name (a DNS-1123 subdomain)', DEFAULT_SINK_NAME);
  withFlags(cmd, flags)
    .addHelpText(
      'after',
      `
Prints, as kubectl apply: created, configured (and what changed) or unchanged.
With no cluster running (none, or kind not on PATH) the sink is saved and the next
\`audit-lab up\` applies it; the line says so, and the exit code is 0 (so for delete).

Examples:
  $ audit-lab sink create --level Metadata --stage ResponseComplete
  $ audit-lab sink create secrets --level RequestResponse --stage ResponseComplete --qps 5 --burst 10
  $ audit-lab sink create full --level requestresponse --stage requestreceived --stage responsecomplete  # any case
  $ audit-lab sink create rec --policy preset:recommended   # static mode: a whole policy (preset:NAME or a file)
  $ audit-lab sink create falco --url http://127.0.0.1:9765/k8s-audit   # plain http: loopback only`,
    )
    .action((sinkName: string, values: OptionValues) => {
      const { policy, dryRun, ...raw } = readFlags(flags, values);
      const change = normalizeSink(sinkName, raw);
      return setup.run(sinkCreate, { name: labName(values), sink: change, policy, dryRun });
    });
}
