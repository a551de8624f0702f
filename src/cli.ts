/**
 * The command-line surface: declares commands and options, parses and normalizes them, and hands
 * a typed options object to a handler. Nothing here does the work; see src/commands/.
 */
import { Argument, Command, InvalidArgumentError, Option } from 'commander';
import {
  DEFAULT_BURST,
  DEFAULT_QPS,
  DEFAULT_SINK_NAME,
  LEVELS,
  STAGES,
  plainHttpProblem,
  splitStages,
} from './audit/model.js';
import type { CommandSpec, OptionSpec, ValueKind } from './completion.js';
import type { Handlers } from './commands/options.js';
import type { TailFormat } from './ui/tailView.js';
import { UserError } from './errors.js';
import { type IO, terminalWidth } from './io.js';
import { DEFAULT_LAB_NAME, validateLabName } from './lab/paths.js';
import { parseTarget } from './audit/suggestTarget.js';
import type { ModeChoice } from './lab/mode.js';
import type { Capture, KindConfigApi } from './lab/state.js';
import { checkSinkChange, type SinkChange } from './lab/sinks.js';
import { escapeLines } from './ui/escape.js';
import { LaidOutHelpCommand } from './ui/help.js';
import type { OutputFormat } from './ui/printers.js';
import type { FilterFlags } from './audit/filter.js';
import { DEFAULT_GROUP_KEYS, GROUP_KEYS, type GroupKey } from './top/keys.js';
import type { TopFormat } from './top/once.js';

// Repeatable flags take no commander default, which would show as "(default: [])" in --help.
// A flag whose value is an array may repeat; any other flag given twice is refused (forbidRepeats).
const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

/** The canonical spelling of `input` among `values`, ignoring case: `responsecomplete` is ResponseComplete. */
function canonicalChoice<T extends string>(values: readonly T[], input: string): T | undefined {
  const wanted = input.trim().toLowerCase();
  return values.find((v) => v.toLowerCase() === wanted);
}

/**
 * The one parser of every enum flag: any case in, the canonical value out, else a UserError that
 * quotes the value as the other flag checks do (`--stage "Done"`, escaped where it is printed).
 */
function choice<T extends string>(flag: string, values: readonly T[]) {
  return (value: string): T => {
    const found = canonicalChoice(values, value);
    if (found === undefined) throw new UserError(`${flag} ${JSON.stringify(value)} is not one of ${values.join(', ')}`);
    return found;
  };
}

/** An enum flag: its choices shown in --help and offered by completion, parsed by choice(). */
function enumOption(flags: string, description: string, values: readonly string[], o: { repeat?: boolean } = {}): Option {
  const option = new Option(flags, description).choices(values);
  const one = choice(option.long ?? flags, values);
  return o.repeat === true ? option.argParser((v: string, previous: string[] | undefined) => collect(one(v), previous)) : option.argParser(one);
}

/** A TCP port; `serve` may take 0, which asks the system for any free one. */
function port(allowAny = false) {
  return (value: string) => {
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!(n >= (allowAny ? 0 : 1) && n <= 65535)) {
      throw new InvalidArgumentError(`--port takes ${allowAny ? '0 (any free port) or ' : ''}1-65535.`);
    }
    return n;
  };
}

function countAtLeastOne(flag: string) {
  return (value: string) => {
    if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError(`${flag} takes a whole number, 1 or more.`);
    return Number(value);
  };
}

/** tail --tail: a count of events, or -1 for all of them (as kubectl logs --tail). */
function tailCount(value: string): number {
  if (!/^(-1|\d+)$/.test(value.trim())) throw new InvalidArgumentError('--tail takes a number of events: 0 or more, or -1 for all.');
  return Number(value.trim());
}

/** A size in MiB (fractions allowed), as bytes: at least one, as a size that rounds to 0 is none. */
function mebibytes(value: string): number {
  const n = Number(value);
  const bytes = Math.round(n * 1024 * 1024);
  if (value.trim() === '' || !Number.isFinite(n) || !(bytes >= 1)) throw new InvalidArgumentError('--max-stream-size takes a size in MiB of at least one byte (0.000001).');
  return bytes;
}

function number(flag: string) {
  return (value: string) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${flag} takes a number.`);
    return n;
  };
}

/**
 * kubectl's `-o FORMAT` (src/ui/printers.ts), offering what this command prints; `name` is `KIND/NAME`
 * per object, as `kubectl get -o name`. Case does not matter; the table is the default, no flag.
 */
function outputOption(formats: readonly OutputFormat[], kind: string): Option {
  return enumOption('-o, --output <format>', `output format (name: ${kind}/NAME per line; default: a table)`, formats);
}

/**
 * `cmd` with its `-o FORMAT` and, beside it, `--json`: declared here once for every command that
 * prints json, so `--json` is `-o json` on each. `-o`'s default (`fallback`, shown in --help) is
 * dropped when --json is given, so that outputFormat refuses only an -o the user typed.
 */
function withOutput(cmd: Command, output: Option, fallback?: string): Command {
  if (fallback !== undefined) output.default(fallback);
  return cmd
    .addOption(output)
    .addOption(new Option('--json', 'the same as -o json'))
    .hook('preAction', (c) => {
      if (c.getOptionValue('json') === true && c.getOptionValueSource('output') === 'default') c.setOptionValue('output', undefined);
    });
}

/** The format asked for (`--json` is `-o json`), else `fallback`. */
function outputFormat<F extends string>(o: { output?: F; json?: boolean }, fallback: F): F | 'json' {
  if (o.json === true && o.output !== undefined && o.output !== 'json') throw new UserError(`--json is -o json: give one of --json and -o ${o.output}`);
  return o.json === true ? 'json' : (o.output ?? fallback);
}

interface RawSinkFlags {
  level?: string;
  stage: string[];
  qps?: number;
  burst?: number;
  url?: string;
  insecureHttp?: boolean;
}

/**
 * Sink flags as one change: only the flags given, enum values in their canonical case, checked as
 * the AuditSink API would (lab/sinks.ts checkSinkChange); `sink create` and `render --sink` merge
 * it over the lab's sink (applySinkChange), where fields not given keep their values or defaults.
 */
export function normalizeSink(name: string, raw: RawSinkFlags): SinkChange {
  // Any case in; what checkSinkChange does not recognize stays as typed, so its error quotes it.
  const stages = splitStages(raw.stage).map((st) => canonicalChoice(STAGES, st) ?? st);
  const change = checkSinkChange({
    name,
    ...(raw.level !== undefined ? { level: canonicalChoice(LEVELS, raw.level) ?? raw.level } : {}),
    ...(stages.length > 0 ? { stages } : {}),
    ...(raw.qps !== undefined ? { qps: raw.qps } : {}),
    ...(raw.burst !== undefined ? { burst: raw.burst } : {}),
    ...(raw.url !== undefined ? { url: raw.url } : {}),
  });
  const clearText = raw.url === undefined || raw.insecureHttp === true ? null : plainHttpProblem(raw.url);
  if (clearText !== null) {
    throw new UserError(clearText, 'use https://, a loopback address (127.0.0.1, [::1], localhost), or add --insecure-http if you mean it');
  }
  return change;
}

// A sink's level and stages: choices for --help and completion, but parsed in normalizeSink,
// whose errors are the AuditSink API's own.
function sinkLevelOption(description: string): Option {
  return new Option('--level <level>', description).choices(LEVELS).argParser((v: string) => v);
}

function sinkStageOption(description: string): Option {
  return new Option('--stage <stage>', description).choices(STAGES).argParser(collect);
}

/** What a static lab's API server captures; `up`, `serve` and `render` take it alike. */
function captureOption(extra = ''): Option {
  return enumOption(
    '--capture <what>',
    `static mode: full captures everything, so no sink change restarts the API server (a new lab's default); sinks captures only what the sinks need${extra}`,
    ['full', 'sinks'],
  );
}

function modeOption(): Option {
  return enumOption('--mode <mode>', 'dynamic (AuditSink API, 1.13-1.18) or static (policy + webhook, any version)', ['auto', 'static', 'dynamic']).default('auto');
}

// --- filters shared by tail and top ---
/** The flags that choose events, declared once for every command that reads them. */
const FILTER_OPTIONS = {
  sink: () => new Option('--sink <name>', 'only this sink; repeat or comma-separate for several (default: the lab\'s sinks merged, each event once)').argParser(collect),
  since: () => new Option('--since <when>', 'only events newer than a duration (10m, 2h) or an RFC 3339 time'),
  verb: () => new Option('--verb <verb>', 'filter by verb (repeatable)').argParser(collect),
  user: () => new Option('--user <user>', 'filter by user name (repeatable)').argParser(collect),
  namespace: () => new Option('-n, --namespace <ns>', 'filter by namespace (repeatable)').argParser(collect),
  resource: () =>
    new Option('--resource <res>', 'filter by resource as kubectl names it (pods, pod, po, deploy: in any group), or as audit policies do: pods/log, pods/*, apps/deployments, */scale, * (repeatable)').argParser(collect),
  stage: () => enumOption('--stage <stage>', 'filter by stage, any case (repeatable)', STAGES, { repeat: true }),
  code: () => new Option('--code <code>', 'filter by response code: 403 or 4xx (repeatable)').argParser(collect),
  file: () =>
    new Option(
      '--file <path...>',
      "read audit log files instead of a lab (no lab or receiver needed): the API server's --audit-log-path files, v1 or v1beta1, rotated and gzip ones, EventList documents, - for stdin; several come out in time order; takes every path up to the next flag",
    ),
};

/** `cmd` with the event filters of tail and top: --verb --user --namespace --resource --stage --code. */
function withEventFilters(cmd: Command): Command {
  for (const make of [FILTER_OPTIONS.verb, FILTER_OPTIONS.user, FILTER_OPTIONS.namespace, FILTER_OPTIONS.resource, FILTER_OPTIONS.stage, FILTER_OPTIONS.code]) cmd.addOption(make());
  return cmd;
}

/** The filter flags' values, as buildFilter (src/audit/filter.ts) takes them. */
function filterFlags(o: Record<string, unknown>): { [K in keyof FilterFlags]: string[] } {
  const list = (v: unknown) => (v ?? []) as string[];
  return { verb: list(o.verb), user: list(o.user), namespace: list(o.namespace), resource: list(o.resource), stage: list(o.stage), code: list(o.code) };
}

/** The values of a flag that repeats or takes a comma-separated list, blanks dropped. */
const commaList = (values: readonly string[] | undefined) => (values ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
// --- end filters ---

// --- top ---
/** --by: keys comma-separated or repeated, any case; none, or an unknown one, is a UserError naming them. */
function groupKeys(value: string, previous: GroupKey[] | undefined): GroupKey[] {
  const keys = commaList([value]).map(choice('--by', GROUP_KEYS));
  if (keys.length === 0) throw new UserError(`--by ${JSON.stringify(value)} names no key`, `use one or more of ${GROUP_KEYS.join(', ')}, e.g. --by user,verb`);
  return [...new Set([...(previous ?? []), ...keys])];
}
// --- end top ---

const EXAMPLES = `
Examples:
  $ audit-lab up                                                    # cluster + receiver + default sink
  $ audit-lab sink create --level Metadata --stage ResponseComplete # per-sink level and stages
  $ audit-lab tail                                                  # events, live
  $ audit-lab down
  $ audit-lab render --mode static --out ./files                    # see every generated file
  $ audit-lab --name lab2 up                                        # a second lab, side by side
  $ audit-lab help sink create                                      # help of one command

Labs live in $AUDIT_LAB_HOME/<name>/ (default ~/.audit-lab/audit-lab).
Exit codes: 0 success, 1 failure at run time, 2 bad usage or invalid input.`;

export function buildProgram(io: IO, handlers: Handlers, version: string, setCode: (code: number) => void): Command {
  const program = new LaidOutHelpCommand('audit-lab');
  const done = (code: number | void) => setCode(code ?? 0);
  program
    .description('See, learn and test the Kubernetes API server audit log on a local kind cluster.')
    .version(version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      // Commander's errors quote the argv they reject (`unknown option '\x1b[2J'`): escaped.
      writeErr: (s) => io.stderr.write(escapeLines(s)),
      // The terminal's width (not process.stdout's: tests pass their own streams); 80 off one.
      getOutHelpWidth: () => terminalWidth(io.stdout, io.env) ?? 80,
      getErrHelpWidth: () => terminalWidth(io.stderr, io.env) ?? 80,
    })
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', EXAMPLES)
    .addHelpCommand(false)
    // Global options: one declaration, listed under "Global Options" in every command's help.
    // Descriptions wrap in a narrow column too (commander leaves them whole below 40 columns),
    // so that a narrow terminal does not wrap them at its edge.
    .configureHelp({ showGlobalOptions: true, minWidthToWrap: 20 })
    // Declared once, here: commander reads it anywhere (`audit-lab --name lab2 status` and
    // `audit-lab status --name lab2`). A subcommand must not declare it again (the help test checks).
    .option('--name <name>', 'lab and kind cluster name', DEFAULT_LAB_NAME)
    // Every action reads the global options from its own options object, as `o.name`.
    .hook('preAction', (_program, action) => {
      for (const [key, value] of Object.entries(program.opts())) action.setOptionValue(key, value);
    });

  const name = (o: { name: string }) => validateLabName(o.name);

  program
    .command('up')
    .description('create the cluster with auditing wired to the receiver, start the receiver, create the default sink')
    .option('--image <image>', 'kind node image, e.g. kindest/node:v1.31.0 (default: kind\'s own; 1.18.19 in dynamic mode)')
    .addOption(modeOption().default(undefined, "the lab's, else auto"))
    .option('--no-sink', 'do not create the default sink (Metadata, ResponseComplete)')
    .option('--dry-run', 'print every file and command without running any')
    .option('--recreate', 'delete the lab\'s cluster first and start over')
    .option('--verbose', 'show the full output of kind and the time of each step')
    .addOption(captureOption(' (given on an existing lab, the API server restarts with it)'))
    .addOption(enumOption('--kind-config-api <version>', 'kind config API version, v1alpha3 for kind 0.6-0.8 (default: v1alpha4)', ['v1alpha4', 'v1alpha3']))
    .option('--batch-max-wait <duration>', 'static mode: how long the API server holds a batch (default: 100ms)')
    .option('--port <port>', 'receiver port', port())
    .addHelpText('after', `
Examples:
  $ audit-lab up
  $ audit-lab up --image kindest/node:v1.18.19   # dynamic mode: real AuditSinks
  $ audit-lab up --dry-run                        # print files and commands only`)
    .action(async (o) =>
      done(
        await handlers.up({
          name: name(o),
          mode: o.mode as ModeChoice | undefined,
          image: o.image,
          sink: o.sink,
          dryRun: o.dryRun === true,
          recreate: o.recreate === true,
          verbose: o.verbose === true,
          capture: o.capture as Capture | undefined,
          kindConfigApi: o.kindConfigApi as KindConfigApi | undefined,
          batchMaxWait: o.batchMaxWait,
          port: o.port,
        }),
      ),
    );

  program
    .command('down')
    .description('stop the receiver and delete the cluster; events are kept unless --purge')
    .option('--purge', 'also delete the lab directory: state, keys and every stored event')
    .option('--keep-cluster', 'stop the receiver only; the cluster stays (`audit-lab up` starts the receiver again)')
    .addHelpText('after', `
Examples:
  $ audit-lab down
  $ audit-lab down --keep-cluster     # stop the receiver, keep the cluster
  $ audit-lab down --purge`)
    .action(async (o) => done(await handlers.down({ name: name(o), purge: o.purge === true, keepCluster: o.keepCluster === true })));

  const sink = program
    .command('sink')
    .description('create, list and delete audit sinks (level + stages, as the AuditSink API had)')
    .addHelpText('after', `
Examples:
  $ audit-lab sink create --level Metadata --stage ResponseComplete
  $ audit-lab sink create full --level RequestResponse --stage RequestReceived,ResponseComplete
  $ audit-lab sink list --json
  $ audit-lab sink delete full`);

  sink
    .command('create')
    .description('add a sink, or update the one with that name')
    .argument('[NAME]', 'sink name (a DNS-1123 subdomain)', DEFAULT_SINK_NAME)
    .addOption(sinkLevelOption('audit level, any case (default: Metadata)'))
    .addOption(sinkStageOption('stages to send, any case; repeat or comma-separate (default: ResponseComplete)'))
    .option('--qps <n>', `throttle: events batches per second (default: ${DEFAULT_QPS})`, number('--qps'))
    .option('--burst <n>', `throttle: burst (default: ${DEFAULT_BURST})`, number('--burst'))
    .option('--url <url>', 'also send to this endpoint: https://host[/path]; plain http only to loopback (127.0.0.1, [::1], localhost)')
    .option('--insecure-http', '--url may be plain http to another host (events, Secrets included, go in clear text)')
    .option('--policy <file>', 'static mode: a full audit Policy for this sink instead of one level: a file, or preset:NAME (metadata, recommended, request-response)')
    .option('--dry-run', 'print the AuditSink or policy change, change nothing')
    .addHelpText('after', `
Prints, as kubectl apply: created, configured (and what changed) or unchanged.
With no cluster running (none, or kind not on PATH) the sink is saved and the next
\`audit-lab up\` applies it; the line says so, and the exit code is 0 (so for delete).

Examples:
  $ audit-lab sink create --level Metadata --stage ResponseComplete
  $ audit-lab sink create secrets --level RequestResponse --stage ResponseComplete --qps 5 --burst 10
  $ audit-lab sink create full --level requestresponse --stage requestreceived --stage responsecomplete  # any case
  $ audit-lab sink create rec --policy preset:recommended   # static mode: a whole policy (preset:NAME or a file)
  $ audit-lab sink create falco --url http://127.0.0.1:9765/k8s-audit   # plain http: loopback only`)
    .action(async (sinkName: string, o) => {
      const change = normalizeSink(sinkName, { ...o, stage: o.stage ?? [] });
      done(await handlers.sinkCreate({ name: name(o), sink: change, policy: o.policy, dryRun: o.dryRun === true }));
    });

  withOutput(sink.command('list').description('list sinks: level, stages, throttle, target, events stored, last event'), outputOption(['json', 'jsonl', 'yaml', 'wide', 'name'], 'sink'))
    .addHelpText('after', `
Examples:
  $ audit-lab sink list
  $ audit-lab sink list -o jsonl | jq -r 'select(.events > 0) | .name'
  $ audit-lab sink list -o name          # sink/default`)
    .action(async (o) => done(await handlers.sinkList({ name: name(o), output: outputFormat(o, 'table') })));

  sink
    .command('delete')
    .description('delete a sink (its stored events are kept)')
    .argument('<NAME>', 'sink name')
    .addHelpText('after', `
Examples:
  $ audit-lab sink delete full`)
    .action(async (sinkName: string, o) => done(await handlers.sinkDelete({ name: name(o), sinkName })));

  const tail = withOutput(
    program
      .command('tail')
      .description('show audit events, following by default (as kubectl logs -f)')
      .addOption(FILTER_OPTIONS.sink())
      .addOption(FILTER_OPTIONS.file())
      .option('-f, --follow', 'keep showing new events as they come (the default)')
      .option('--no-follow', 'print what is stored and exit')
      .option('--tail <n>', 'show only the last N stored events (after the filters; 0: none, -1: all)', tailCount, -1)
      .addOption(FILTER_OPTIONS.since()),
    enumOption('-o, --output <format>', 'pretty (columns fitted to the terminal), wide (every column, nothing cut), json (with --no-follow one EventList; following, one document per event) or jsonl (the stored lines, byte for byte)', ['pretty', 'wide', 'json', 'jsonl']),
    'pretty',
  ).option('--utc', 'show times in UTC (default: local time, as stern does; json and jsonl keep the stored times)');
  withEventFilters(tail)
    .addHelpText('after', `
Examples:
  $ audit-lab tail
  $ audit-lab tail --tail 20 --resource deploy --verb delete
  $ audit-lab tail --sink default --sink secrets --stage responsecomplete --no-follow -o wide   # flags repeat; any case
  $ audit-lab tail --no-follow -o json | jq '.items | length'
  $ audit-lab tail --no-follow -o jsonl | jq .verb
  $ audit-lab tail --file /var/log/kubernetes/audit/audit*.log* --no-follow --user system:kube-scheduler
  $ audit-lab tail --file audit.log                                 # follows it, through rotation, as tail -F
  $ ssh node1 cat /var/log/kube-audit.log.gz | audit-lab tail --file - --no-follow   # gzip or not

--file takes every path after it, up to the next flag. A line that is not an audit event is
listed at the end with its file and line number, and makes the exit code 2.`)
    .action(async (o) =>
      done(
        await handlers.tail({
          name: name(o),
          sinks: commaList(o.sink),
          files: o.file ?? [],
          follow: o.follow !== false,
          tail: o.tail as number,
          since: o.since,
          output: outputFormat<TailFormat>(o, 'pretty'),
          utc: o.utc === true,
          ...filterFlags(o),
        }),
      ),
    );

  // --- top ---
  const top = withOutput(
    program
      .command('top')
      .description('the heaviest users, verbs and resources: events/s, share and bytes/s per group, live at a terminal (as top)')
      .addOption(new Option('--by <keys>', 'group by these keys, comma-separated or repeated (default: user,verb,resource)').choices(GROUP_KEYS).argParser(groupKeys))
      .option('--window <duration>', 'rates over this much event time, up to the newest event (default: 1m live; with --no-follow, all that is stored)')
      .option('-f, --follow', 'at a terminal, a live view of new events as they come (the default)')
      .option('--no-follow', 'one table of what is stored, and exit (always so off a terminal)')
      .option('--limit <n>', 'at most N groups, the busiest (default: all off a terminal, the screen\'s height on one)', countAtLeastOne('--limit')),
    enumOption('-o, --output <format>', 'table, json (one document: groups, totals, window, skipped lines) or jsonl (one group per line)', ['table', 'json', 'jsonl']),
    'table',
  )
    .addOption(FILTER_OPTIONS.file())
    .addOption(FILTER_OPTIONS.sink())
    .addOption(FILTER_OPTIONS.since());
  withEventFilters(top)
    .addHelpText('after', `
Live keys: q or Ctrl-C quit, p or space pause, < > change the sort column, r rate,
e events, b bytes/s, l last seen, n name, R reverse the order.

Examples:
  $ audit-lab top                                        # live, by user, verb and resource
  $ audit-lab top --by user --window 5m                  # who, over the last five minutes
  $ audit-lab top --no-follow --by verb,resource --limit 10
  $ audit-lab top --by useragent --verb watch --verb list --no-follow
  $ audit-lab top --file audit.log --no-follow -o json | jq '.groups[0]'`)
    .action(async (o) =>
      done(
        await handlers.top({
          name: name(o),
          sinks: commaList(o.sink),
          files: o.file ?? [],
          by: o.by ?? [...DEFAULT_GROUP_KEYS],
          window: o.window,
          follow: o.follow !== false,
          since: o.since,
          output: outputFormat<TopFormat>(o, 'table'),
          limit: o.limit,
          ...filterFlags(o),
        }),
      ),
    );
  // --- end top ---

  program
    .command('serve')
    .description('run the receiver in the foreground')
    .option('--address <addr>', 'IP address to listen on (saved in the lab)')
    .option('--port <port>', 'port to listen on (0: any free port, saved for `up` and `tail`)', port(true))
    .option('--max-stream-size <MiB>', 'rotate a sink\'s stream at this size (default 100; saved in the lab)', mebibytes)
    .option('--max-stream-files <n>', 'rotated files kept per sink, oldest removed beyond it (default 5; saved in the lab)', countAtLeastOne('--max-stream-files'))
    .addOption(captureOption(' (saved in the lab; `render` writes the policy for your API server)'))
    // `npm run bench:receiver` measures what durability costs with it; no user should lose acknowledged events.
    .addOption(new Option('--skip-fsync-for-benchmark').hideHelp())
    .addHelpText('after', `
Examples:
  $ audit-lab serve                              # the lab's address and port (127.0.0.1:8845 for a new lab)
  $ audit-lab serve --port 0                     # any free port, saved for \`up\` and \`tail\`
  $ audit-lab serve --max-stream-size 20 --max-stream-files 3`)
    .action(async (o) =>
      done(
        await handlers.serve({
          name: name(o),
          address: o.address,
          port: o.port,
          maxStreamBytes: o.maxStreamSize,
          maxStreamFiles: o.maxStreamFiles,
          capture: o.capture as Capture | undefined,
          ...(o.skipFsyncForBenchmark === true ? { skipFsync: true } : {}),
        }),
      ),
    );

  withOutput(program.command('status').description('lab, cluster, receiver and sinks at a glance (works with no cluster)'), outputOption(['json', 'yaml', 'wide', 'name'], 'lab'))
    .addHelpText('after', `
Examples:
  $ audit-lab status
  $ audit-lab status --name lab2 -o json | jq .receiver.url
  $ audit-lab status -o wide             # sinks with their --url`)
    .action(async (o) => done(await handlers.status({ name: name(o), output: outputFormat(o, 'table') })));

  withOutput(program.command('doctor').description('check docker, kind, kubectl, versions, cgroup version and ports'), outputOption(['json', 'yaml', 'wide', 'name'], 'check'))
    .addHelpText('after', `
Examples:
  $ audit-lab doctor
  $ audit-lab doctor -o wide             # one row per check, with its fix
  $ audit-lab doctor -o json | jq '.checks[] | select(.status != "ok")'`)
    .action(async (o) => done(await handlers.doctor({ name: name(o), output: outputFormat(o, 'table') })));

  withOutput(program.command('list').description('every lab: mode, Kubernetes version, cluster up or down, receiver, sinks, events stored'), outputOption(['json', 'jsonl', 'yaml', 'wide', 'name'], 'lab'))
    .addHelpText('after', `
Examples:
  $ audit-lab list
  $ audit-lab list -o wide               # with receiver pid, node image and lab directory
  $ audit-lab list -o name               # lab/audit-lab`)
    .action(async (o) => done(await handlers.list({ output: outputFormat(o, 'table') })));

  program
    .command('render')
    .description('write every generated file (kind config, AuditSinks, policy, webhook kubeconfig), touching nothing else')
    .addOption(modeOption().default(undefined, 'the lab\'s, else auto'))
    .option('--image <image>', 'kind node image; its tag decides the mode with --mode auto')
    .option('--out <dir>', 'write the files into this directory (default: print them)')
    .addOption(enumOption('--kind-config-api <version>', 'kind config API version (v1alpha3 for kind 0.6-0.8)', ['v1alpha4', 'v1alpha3']))
    .option('--batch-max-wait <duration>', 'static mode: how long the API server holds a batch (default 100ms)')
    .option('--receiver-host <host>', 'how the node reaches the receiver (default: learned by `up`, else host.docker.internal)')
    .option('--port <port>', 'receiver port', port())
    .addOption(captureOption(' (render only: not saved)'))
    .addOption(
      enumOption('--host-cgroup <version>', "cgroup version of the machine the node runs on; v1 with kubelet >= 1.35 adds failCgroupV1: false (default: this machine's, when Docker runs here)", ['v1', 'v2']),
    )
    .option('--sink <name>', 'render with this sink added or changed, as `sink create` would')
    .addOption(sinkLevelOption('level of --sink'))
    .addOption(sinkStageOption('stage of --sink (repeatable)'))
    .option('--qps <n>', 'throttle qps of --sink', number('--qps'))
    .option('--burst <n>', 'throttle burst of --sink', number('--burst'))
    .addHelpText('after', `
Examples:
  $ audit-lab render                                   # print the files of the lab (or of a new one)
  $ audit-lab render --mode static --out ./files
  $ audit-lab render --image kindest/node:v1.18.19 --kind-config-api v1alpha3
  $ audit-lab render --sink full --level RequestResponse --stage ResponseComplete`)
    .action(async (o) => {
      const stage: string[] = o.stage ?? [];
      const sinkFlags = [o.level !== undefined && '--level', stage.length > 0 && '--stage', o.qps !== undefined && '--qps', o.burst !== undefined && '--burst'].filter((f) => f !== false);
      // The same change `sink create` makes, merged by the same rule (lab/sinks.ts applySinkChange).
      const sinkOverride = o.sink !== undefined || sinkFlags.length > 0 ? normalizeSink(o.sink ?? DEFAULT_SINK_NAME, { ...o, stage }) : undefined;
      done(
        await handlers.render({
          name: name(o),
          mode: o.mode as ModeChoice | undefined,
          image: o.image,
          out: o.out,
          kindConfigApi: o.kindConfigApi as KindConfigApi | undefined,
          batchMaxWait: o.batchMaxWait,
          receiverHost: o.receiverHost,
          port: o.port,
          capture: o.capture as Capture | undefined,
          hostCgroup: o.hostCgroup === undefined ? undefined : o.hostCgroup === 'v1' ? 1 : 2,
          sink: sinkOverride,
          ...(o.sink === undefined && sinkFlags.length > 0 ? { sinkFlagsAlone: sinkFlags } : {}),
        }),
      );
    });

  const policy = program.command('policy').description('work with audit policies').addHelpText('after', `
Examples:
  $ audit-lab policy test preset:recommended --sink default
  $ audit-lab policy suggest --sink full --target 50% > quiet.yaml`);
  const policyTest = policy.command('test');
  // Commander's own step for a missing argument (a method it has but does not type), so that a
  // POLICY that --file took is told as such.
  Object.assign(policyTest, { missingArgument: () => missingPolicy(policyTest, (policyTest.opts().file ?? []) as string[]) });
  withOutput(
    policyTest
      .description('which rule each event matches, and the resulting level')
      .argument('<POLICY>', 'an audit.k8s.io/v1 Policy file, or preset:NAME')
      .addOption(FILTER_OPTIONS.file())
      .option('--events <file>', 'an audit log file (the older name of --file)')
      .option('--sink <name>', 'use the events stored for this sink')
      .option('--per-event', 'the table: a row per event, fitted to the terminal, before the summary'),
    outputOption(['table', 'json', 'jsonl', 'yaml', 'wide', 'name'], 'event'),
  )
    .addHelpText('after', `
Each line is read as the receiver reads what it is sent: an audit Event or EventList
(audit.k8s.io/v1 or v1beta1) as JSON. A line the receiver would refuse is not judged:
the others are, then every refused line is listed with its reason and the exit code is 2.
Several files are judged in time order. --file takes every path after it, up to the next
flag: give POLICY before it.
The table is the summary: events and bytes per level, captured and with the
policy. --per-event adds a row per event, -o wide every field of it; -o json,
jsonl, yaml and name give every verdict. Each is printed as its event is read.

Examples:
  $ audit-lab policy test policy.yaml --file audit.log
  $ audit-lab policy test policy.yaml --file audit.log --per-event | less
  $ audit-lab policy test policy.yaml --file /var/log/kubernetes/audit/audit*.log*
  $ audit-lab policy test preset:recommended --sink default -o json
  $ audit-lab policy test policy.yaml --file audit.log -o jsonl | jq -c '{auditID, rule, level}'`)
    .action(async (policyFile: string, o) =>
      done(await handlers.policyTest({ name: name(o), policy: policyFile, files: [...(o.events !== undefined ? [o.events as string] : []), ...((o.file ?? []) as string[])], sink: o.sink, perEvent: o.perEvent === true, output: outputFormat(o, 'table') })),
    );

  withOutput(
    policy
      .command('suggest')
      .description('a policy that drops or lowers the heaviest read-only traffic of captured events, never writes, secrets, 401/403 or exec')
      .option('--sink <name>', 'learn from the events stored for this sink (capture at RequestResponse to measure bodies)')
      .addOption(FILTER_OPTIONS.file())
      .option('--from <policy>', 'the policy to start from: a file, or preset:NAME', 'preset:recommended')
      .option('--target <share>', 'add rules until the bytes written are at most this share of what --from writes, e.g. 50%', parseTarget),
    enumOption('-o, --output <format>', 'yaml (the policy, with comments) or json (the policy, its text and every figure)', ['yaml', 'json']),
    'yaml',
  )
    .addHelpText('after', `
The rules go in front of the --from policy's, each with a comment saying what it drops
and how many bytes; the totals before and after, as \`policy test\` counts them, end the file.
A target that cannot be met without touching protected events is said on stderr; the
best policy is printed anyway, and the exit code is 0.

Examples:
  $ audit-lab policy suggest --sink full --target 50% > quiet.yaml
  $ audit-lab policy test quiet.yaml --sink full
  $ audit-lab sink create quiet --policy quiet.yaml
  $ audit-lab policy suggest --file /var/log/kubernetes/audit.log --from preset:request-response -o json | jq .after`)
    .action(async (o) =>
      done(await handlers.policySuggest({ name: name(o), sink: o.sink, files: o.file ?? [], from: o.from, target: o.target, output: outputFormat<'yaml' | 'json'>(o, 'yaml') })),
    );

  withOutput(program.command('version').description('print the versions of audit-lab and Node.js, and the platform (as kubectl version)'), enumOption('-o, --output <format>', 'json or yaml (default: one line each)', ['json', 'yaml']))
    .addHelpText('after', `
Examples:
  $ audit-lab version
  $ audit-lab version -o json | jq -r .auditLab
  $ audit-lab --version                  # the version of audit-lab alone`)
    .action(async (o) => done(await handlers.version({ version, output: outputFormat<OutputFormat>(o, 'table') })));

  program
    .command('completion')
    .description('print a shell completion script: commands, flags, lab names and sink names')
    .addArgument(new Argument('<SHELL>', 'bash, zsh or fish').choices(SHELLS).argParser(choice('SHELL', SHELLS)))
    .addHelpText('after', `
Examples:
  $ source <(audit-lab completion bash)                    # in ~/.bashrc
  $ audit-lab completion zsh > "\${fpath[1]}/_audit-lab"   # then restart zsh
  $ audit-lab completion fish > ~/.config/fish/completions/audit-lab.fish`)
    .action(async (shell: Shell) => done(await handlers.completion({ shell })));

  program
    .command('help')
    .description('show the help of a command')
    .argument('[COMMAND...]', 'a command, e.g. `sink create`')
    .addHelpText('after', `
Examples:
  $ audit-lab help
  $ audit-lab help sink create`)
    .action((path: string[]) => {
      let cmd: Command = program;
      for (const word of path) {
        const sub = cmd.commands.find((c) => c.name() === word);
        if (sub === undefined) {
          const known = cmd.commands.map((c) => c.name()).join(', ');
          cmd.error(`error: unknown command '${[...path.slice(0, path.indexOf(word)), word].join(' ')}' (commands: ${known})`, { exitCode: 2, code: 'audit-lab.unknownHelpCommand' });
        }
        cmd = sub;
      }
      cmd.outputHelp();
      done(0);
    });

  forbidRepeats(program);
  return program;
}

/**
 * `policy test` without POLICY. Given after --file, POLICY became one more file (--file takes
 * every path up to the next flag), and "missing required argument" alone leaves the user looking
 * at the POLICY they typed.
 */
function missingPolicy(cmd: Command, files: readonly string[]): never {
  const last = files.at(-1);
  const why = last === undefined ? '' : `: --file takes one or more files, so ${JSON.stringify(last)} was read as a file; put POLICY before --file, or end the files with --`;
  return cmd.error(`error: missing required argument 'POLICY'${why}`, { exitCode: 2, code: 'commander.missingArgument' });
}

const SHELLS = ['bash', 'zsh', 'fish'] as const;
type Shell = (typeof SHELLS)[number];

/** Every command below `cmd`, itself first. */
function allCommands(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(allCommands)];
}

/**
 * A flag whose value is not an array (see collect) given twice is a usage error naming it, never
 * a silent last-wins. Switches (--dry-run) may repeat: saying it twice means the same.
 */
function forbidRepeats(program: Command): void {
  for (const cmd of allCommands(program)) {
    for (const option of cmd.options) {
      if (option.isBoolean()) continue;
      let seen = 0;
      // Runs after commander's own listener (added with the option), so the value is already set.
      cmd.on(`option:${option.name()}`, () => {
        seen += 1;
        if (seen > 1 && !Array.isArray(cmd.getOptionValue(option.attributeName()))) {
          cmd.error(`error: option '${option.flags}' was given more than once; it takes one value`, { exitCode: 2, code: 'audit-lab.repeatedOption' });
        }
      });
    }
  }
}

/** What completion needs to know of a flag's value. */
function valueKind(option: Option): ValueKind {
  if (option.argChoices !== undefined) return { choices: option.argChoices };
  if (option.long === '--name') return 'lab';
  if (option.long === '--sink') return 'sink';
  return 'file';
}

/** The command tree as completion reads it: names, flags and what their values are. */
export function commandTree(cmd: Command): CommandSpec {
  const options: OptionSpec[] = cmd.options
    .filter((o) => !o.hidden)
    .map((o) => ({ flags: [o.long, o.short].filter((f): f is string => f !== undefined), value: o.isBoolean() ? null : valueKind(o) }));
  const args = cmd.registeredArguments.map((a): ValueKind => (a.argChoices !== undefined ? { choices: a.argChoices } : cmd.parent?.name() === 'sink' ? 'sink' : cmd.name() === 'help' ? 'command' : 'file'));
  return { name: cmd.name(), options, args, commands: cmd.commands.map(commandTree) };
}
