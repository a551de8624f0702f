/**
 * What the commands' declarations (the `*Command.ts` files) share: typed flags, the parsers of flag
 * values, the flag sets several commands take (the event filters, the sink flags, `-o`/`--json`,
 * --capture, --mode), and how a declaration hands its parsed options to its handler. Light on
 * purpose: src/cli.ts loads every declaration for --help and --version, which load commander alone.
 */
import { type Command, InvalidArgumentError, Option, type OptionValues } from 'commander';
import { LEVELS, STAGES, type Stage, plainHttpProblem, splitStages } from '../audit/model.js';
import { UserError } from '../errors.js';
import { validateLabName } from '../lab/paths.js';
import type { ModeChoice } from '../lab/mode.js';
import { checkSinkChange, type SinkChange } from '../lab/sinks.js';
import type { Capture, KindConfigApi } from '../lab/state.js';
import type { Context } from './context.js';

// --- declaring a command ---
/**
 * A command's work, in its own module, loaded only when the command runs: --help, --version and
 * completion load none of them.
 */
export interface Handler<O> {
  /** Its name among the handlers a test puts in place of the commands' (Handlers in src/cli.ts). */
  readonly key: string;
  load(): Promise<(o: O, ctx: Context) => Promise<number | void>>;
}

export function handler<O>(key: string, load: Handler<O>['load']): Handler<O> {
  return { key, load };
}

/** What src/cli.ts gives each command's declaration. */
export interface Setup {
  /** audit-lab's version, as main.ts read it from package.json. */
  readonly version: string;
  /** Runs `handler` with the parsed options; what it returns is the exit code (none: 0). */
  run<O extends object>(handler: Handler<O>, options: NoInfer<O>): Promise<void>;
}

/** A command's declaration: the command (and any below it) under `parent`, with its flags, help and action. */
export type Declaration = (parent: Command, setup: Setup) => void;

/** The lab named by the global --name (declared once, in src/cli.ts), checked. */
export function labName(values: OptionValues): string {
  return validateLabName(values.name);
}
// --- end declaring a command ---

// --- typed flags ---
// Repeatable flags take no commander default, which would show as "(default: [])" in --help.
// A flag whose value is an array may repeat; any other flag given twice is refused (forbidRepeats).
const collect = <T extends string>(value: T, previous: T[] | undefined): T[] => [...(previous ?? []), value];

/** A flag declared on a command and read back, from what commander parsed, as a `T`. */
export interface Flag<T> {
  /** Declares its options (and any hook they need) on `cmd`, in --help's order. */
  addTo(cmd: Command): void;
  /** Its value among the options of the action: what its parser made, else its default. */
  read(values: OptionValues): T;
}

type Flags = Record<string, Flag<unknown>>;
export type FlagValues<F extends Flags> = { [K in keyof F]: F[K] extends Flag<infer T> ? T : never };

/** `cmd` with each of `flags` declared, in their order. */
export function withFlags(cmd: Command, flags: Flags): Command {
  for (const flag of Object.values(flags)) flag.addTo(cmd);
  return cmd;
}

/** The value of each of `flags`, under its key. */
export function readFlags<F extends Flags>(flags: F, values: OptionValues): FlagValues<F> {
  // The one place a value loses its type on the way: each flag's read() gives its own.
  return Object.fromEntries(Object.entries(flags).map(([key, flag]) => [key, flag.read(values)])) as FlagValues<F>;
}

/** `option` read back as `T`, which the caller vouches is what commander stores for it; `fallback` when not given. */
function stored<T>(option: Option, fallback: T): Flag<T> {
  return { addTo: (cmd) => void cmd.addOption(option), read: (values) => values[option.attributeName()] ?? fallback };
}

/** A flag whose value `parse` makes of each one given (`previous`: what it made before, for one that repeats). */
export function parsedOption<T, F>(
  option: Option,
  parse: (value: string, previous: T | undefined) => T,
  fallback: F,
): Flag<T | F> {
  return stored<T | F>(option.argParser(parse), fallback);
}

/** A value `parse` makes of what is typed (a port, a number); undefined when not given. */
export function parsed<T>(flags: string, description: string, parse: (value: string) => T): Flag<T | undefined> {
  return parsedOption(new Option(flags, description), parse, undefined);
}

/** A value taken as typed; with a `fallback`, that is its default, shown in --help. */
export function text(flags: string, description: string): Flag<string | undefined>;
export function text(flags: string, description: string, fallback: string): Flag<string>;
export function text(flags: string, description: string, fallback?: string): Flag<string | undefined> {
  const option = new Option(flags, description);
  if (fallback !== undefined) option.default(fallback);
  return stored<string | undefined>(option, fallback);
}

/** A switch: true when given. */
export function switchOn(flags: string | Option, description?: string): Flag<boolean> {
  const option = typeof flags === 'string' ? new Option(flags, description) : flags;
  return { addTo: (cmd) => void cmd.addOption(option), read: (values) => values[option.attributeName()] === true };
}

/** `--no-x`: true unless given. */
export function switchOff(flags: string, description: string): Flag<boolean> {
  const option = new Option(flags, description);
  return { addTo: (cmd) => void cmd.addOption(option), read: (values) => values[option.attributeName()] !== false };
}

/** -f, --follow and --no-follow: following unless --no-follow. */
export function follow(yes: string, no: string): Flag<boolean> {
  const on = new Option('-f, --follow', yes);
  const off = new Option('--no-follow', no);
  return { addTo: (cmd) => void cmd.addOption(on).addOption(off), read: (values) => values.follow !== false };
}

/** A flag that repeats: every value given, in order. */
export function repeated(flags: string, description: string): Flag<string[]> {
  return parsedOption(new Option(flags, description), collect<string>, []);
}

/** `flag`'s value made into another (names split at commas, `v1` as 1). */
export function mapped<T, U>(flag: Flag<T>, map: (value: T) => U): Flag<U> {
  return { addTo: (cmd) => flag.addTo(cmd), read: (values) => map(flag.read(values)) };
}
// --- end typed flags ---

/** The canonical spelling of `input` among `values`, ignoring case: `responsecomplete` is ResponseComplete. */
function canonicalChoice<T extends string>(values: readonly T[], input: string): T | undefined {
  const wanted = input.trim().toLowerCase();
  return values.find((v) => v.toLowerCase() === wanted);
}

/**
 * The one parser of every enum flag: any case in, the canonical value out, else a UserError that
 * quotes the value as the other flag checks do (`--stage "Done"`, escaped where it is printed).
 */
export function choice<T extends string>(flag: string, values: readonly T[]) {
  return (value: string): T => {
    const found = canonicalChoice(values, value);
    if (found === undefined) throw new UserError(`${flag} ${JSON.stringify(value)} is not one of ${values.join(', ')}`);
    return found;
  };
}

/**
 * An enum flag: its choices shown in --help and offered by completion, parsed by choice().
 * `shownDefault` is what --help says it defaults to (nothing given: the value is undefined).
 */
export function oneOf<T extends string>(
  flags: string,
  description: string,
  values: readonly T[],
  shownDefault?: string,
): Flag<T | undefined> {
  const option = new Option(flags, description);
  if (shownDefault !== undefined) option.default(undefined, shownDefault);
  return enumFlag(option, values);
}

function enumFlag<T extends string>(option: Option, values: readonly T[]): Flag<T | undefined> {
  return parsedOption(option.choices(values), choice(option.long ?? option.flags, values), undefined);
}

/** A TCP port; `serve` may take 0, which asks the system for any free one. */
export function port(allowAny = false) {
  return (value: string) => {
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!(n >= (allowAny ? 0 : 1) && n <= 65535)) {
      throw new InvalidArgumentError(`--port takes ${allowAny ? '0 (any free port) or ' : ''}1-65535.`);
    }
    return n;
  };
}

export function countAtLeastOne(flag: string) {
  return (value: string) => {
    if (!/^\d+$/.test(value) || Number(value) < 1) {
      throw new InvalidArgumentError(`${flag} takes a whole number, 1 or more.`);
    }
    return Number(value);
  };
}

export function number(flag: string) {
  return (value: string) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${flag} takes a number.`);
    return n;
  };
}

/** The values of a flag that repeats or takes a comma-separated list, blanks dropped. */
export const commaList = (values: readonly string[] | undefined) =>
  (values ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');

// --- -o and --json ---
/**
 * `-o FORMAT` and, beside it, `--json`: declared here once for every command that prints json, so
 * `--json` is `-o json` on each. `fallback` is the format when neither is given; `shownAsDefault`,
 * it is -o's default in --help, dropped when --json is given, so that only an -o the user typed is
 * refused beside --json.
 */
export function output<F extends string, D extends string>(
  formats: readonly F[],
  description: string,
  fallback: D,
  o: { shownAsDefault?: boolean } = {},
): Flag<F | D | 'json'> {
  const option = new Option('-o, --output <format>', description);
  if (o.shownAsDefault === true) option.default(fallback);
  const format = enumFlag<F | D>(option, formats);
  const json = switchOn('--json', 'the same as -o json');
  return {
    addTo: (cmd) => {
      format.addTo(cmd);
      json.addTo(cmd);
      cmd.hook('preAction', (c) => {
        if (c.getOptionValue('json') === true && c.getOptionValueSource('output') === 'default') {
          c.setOptionValue('output', undefined);
        }
      });
    },
    read: (values) => outputFormat({ output: format.read(values), json: json.read(values) }, fallback),
  };
}

/**
 * kubectl's `-o FORMAT` (src/ui/printers.ts), offering what this command prints; `name` is `KIND/NAME`
 * per object, as `kubectl get -o name`. Case does not matter; the table is the default, no flag.
 */
export function objectOutput<F extends string>(formats: readonly F[], kind: string): Flag<F | 'table' | 'json'> {
  return output(formats, `output format (name: ${kind}/NAME per line; default: a table)`, 'table');
}

/** The format asked for (`--json` is `-o json`), else `fallback`. */
function outputFormat<F extends string>(o: { output: F | undefined; json: boolean }, fallback: F): F | 'json' {
  if (o.json && o.output !== undefined && o.output !== 'json') {
    throw new UserError(`--json is -o json: give one of --json and -o ${o.output}`);
  }
  return o.json ? 'json' : (o.output ?? fallback);
}
// --- end -o and --json ---

// --- the sink flags of `sink create` and `render --sink` ---
export interface RawSinkFlags {
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
    throw new UserError(
      clearText,
      'use https://, a loopback address (127.0.0.1, [::1], localhost), or add --insecure-http if you mean it',
    );
  }
  return change;
}

/**
 * A sink's level, stages and throttle, each with its description. The level and stages are
 * choices for --help and completion, but parsed in normalizeSink, whose errors are the AuditSink
 * API's own.
 */
export function sinkFlags(describe: { level: string; stage: string; qps: string; burst: string }) {
  return {
    level: parsedOption(new Option('--level <level>', describe.level).choices(LEVELS), (v: string) => v, undefined),
    stage: parsedOption(new Option('--stage <stage>', describe.stage).choices(STAGES), collect<string>, []),
    qps: parsed('--qps <n>', describe.qps, number('--qps')),
    burst: parsed('--burst <n>', describe.burst, number('--burst')),
  };
}
// --- end sink flags ---

/** What a static lab's API server captures; `up`, `serve` and `render` take it alike. */
export function capture(extra = ''): Flag<Capture | undefined> {
  return oneOf(
    '--capture <what>',
    "static mode: full captures everything, so no sink change restarts the API server (a new lab's default); " +
      `sinks captures only what the sinks need${extra}`,
    ['full', 'sinks'],
  );
}

/** `up` and `render`: no --mode is the lab's mode, else auto. */
export function mode(): Flag<ModeChoice | undefined> {
  return oneOf(
    '--mode <mode>',
    'dynamic (AuditSink API, 1.13-1.18) or static (policy + webhook, any version)',
    ['auto', 'static', 'dynamic'],
    "the lab's, else auto",
  );
}

export function kindConfigApi(description: string): Flag<KindConfigApi | undefined> {
  return oneOf('--kind-config-api <version>', description, ['v1alpha4', 'v1alpha3']);
}

// --- the event filters of tail, top and policy ---
/** --sink of tail and top: repeated or comma-separated. */
export function sinksFilter(): Flag<string[]> {
  const description =
    "only this sink; repeat or comma-separate for several (default: the lab's sinks merged, each event once)";
  return mapped(repeated('--sink <name>', description), commaList);
}

export function since(): Flag<string | undefined> {
  return text('--since <when>', 'only events newer than a duration (10m, 2h) or an RFC 3339 time');
}

/** --file: every path up to the next flag (a shell glob), and it repeats. */
export function files(stdin = true): Flag<string[]> {
  return stored<string[]>(
    new Option(
      '--file <path...>',
      'read audit log files instead of a lab (no lab or receiver needed): ' +
        "the API server's --audit-log-path files, v1 or v1beta1, rotated and gzip ones, EventList documents" +
        `${stdin ? ', - for stdin' : ''}; several come out in time order; takes every path up to the next flag`,
    ),
    [],
  );
}

/**
 * The filters of tail and top, as buildFilter (src/audit/filter.ts) takes them: --verb --user
 * --namespace --resource --stage --code.
 */
export function eventFilters() {
  const stage = choice('--stage', STAGES);
  return {
    verb: repeated('--verb <verb>', 'filter by verb (repeatable)'),
    user: repeated('--user <user>', 'filter by user name (repeatable)'),
    namespace: repeated('-n, --namespace <ns>', 'filter by namespace (repeatable)'),
    resource: repeated(
      '--resource <res>',
      'filter by resource as kubectl names it (pods, pod, po, deploy: in any group), ' +
        'or as audit policies do: pods/log, pods/*, apps/deployments, */scale, * (repeatable)',
    ),
    stage: parsedOption(
      new Option('--stage <stage>', 'filter by stage, any case (repeatable)').choices(STAGES),
      (v: string, previous: Stage[] | undefined) => collect(stage(v), previous),
      [],
    ),
    code: repeated('--code <code>', 'filter by response code: 403 or 4xx (repeatable)'),
  };
}
// --- end event filters ---
