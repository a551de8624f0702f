/**
 * The command-line surface: the program, its global options, and every command registered from
 * its declaration in src/commands/ (`*Command.ts`: flags, help and the typed options its handler
 * gets). Nothing here does the work, and no flag but the global ones is declared here.
 */
import type { Command, Option } from 'commander';
import type { CommandSpec, OptionSpec, ValueKind } from './completion.js';
import type { Context } from './commands/context.js';
import { declareCompletion } from './commands/completionCommand.js';
import { declareDoctor } from './commands/doctorCommand.js';
import { declareDown } from './commands/downCommand.js';
import type { Declaration, Handler, Setup } from './commands/flags.js';
import { declareList } from './commands/listCommand.js';
import { declarePolicy } from './commands/policyCommand.js';
import { declareRender } from './commands/renderCommand.js';
import { declareServe } from './commands/serveCommand.js';
import { declareSink } from './commands/sinkCommand.js';
import { declareStatus } from './commands/statusCommand.js';
import { declareTail } from './commands/tailCommand.js';
import { declareTop } from './commands/topCommand.js';
import { declareUi } from './commands/uiCommand.js';
import { declareUp } from './commands/upCommand.js';
import { declareVersion } from './commands/versionCommand.js';
import { type IO, terminalWidth } from './io.js';
import { DEFAULT_LAB_NAME } from './lab/paths.js';
import { escapeLines } from './ui/escape.js';
import { LaidOutHelpCommand } from './ui/help.js';

/** The commands, in the order --help lists them (`help` last, added by buildProgram). */
const COMMANDS: readonly Declaration[] = [
  declareUp,
  declareDown,
  declareSink,
  declareTail,
  declareTop,
  declareUi,
  declareServe,
  declareStatus,
  declareDoctor,
  declareList,
  declareRender,
  declarePolicy,
  declareVersion,
  declareCompletion,
];

/**
 * Handlers a test puts in place of the commands', by key (`up`, `sinkCreate`: each declaration's
 * handler()); each is given the parsed options. Without them, each command loads its own.
 */
export type Handlers = Record<string, (o: object) => Promise<number | void>>;

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

export function buildProgram(
  io: IO,
  handlers: Handlers | undefined,
  version: string,
  setCode: (code: number) => void,
): Command {
  const program = new LaidOutHelpCommand('audit-lab');
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

  const setup = setupFor(io, handlers, version, setCode);
  for (const declare of COMMANDS) declare(program, setup);
  addHelpCommand(program, () => setCode(0));
  forbidRepeats(program);
  return program;
}

/** How a declaration's action reaches its handler: a test's, else the command's own module, loaded now. */
function setupFor(io: IO, handlers: Handlers | undefined, version: string, setCode: (code: number) => void): Setup {
  // The context too is made when a command runs: its printer measures text (string-width).
  let made: Promise<Context> | undefined;
  const context = () => (made ??= import('./commands/context.js').then((m) => m.makeContext(io)));
  const call = async <O extends object>(h: Handler<O>, o: O): Promise<number | void> => {
    if (handlers === undefined) return (await h.load())(o, await context());
    const given = handlers[h.key];
    if (given === undefined) throw new Error(`no handler ${JSON.stringify(h.key)} among the handlers given`);
    return given(o);
  };
  return { version, run: async (h, o) => setCode((await call(h, o)) ?? 0) };
}

/** `audit-lab help [COMMAND...]`: the help of the program or of a command below it. */
function addHelpCommand(program: Command, done: () => void): void {
  program
    .command('help')
    .description('show the help of a command')
    .argument('[COMMAND...]', 'a command, e.g. `sink create`')
    .addHelpText(
      'after',
      `
Examples:
  $ audit-lab help
  $ audit-lab help sink create`,
    )
    .action((path: string[]) => {
      let cmd: Command = program;
      for (const word of path) {
        const sub = cmd.commands.find((c) => c.name() === word);
        if (sub === undefined) {
          const known = cmd.commands.map((c) => c.name()).join(', ');
          const asked = [...path.slice(0, path.indexOf(word)), word].join(' ');
          cmd.error(`error: unknown command '${asked}' (commands: ${known})`, {
            exitCode: 2,
            code: 'audit-lab.unknownHelpCommand',
          });
        }
        cmd = sub;
      }
      cmd.outputHelp();
      done();
    });
}

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
          cmd.error(`error: option '${option.flags}' was given more than once; it takes one value`, {
            exitCode: 2,
            code: 'audit-lab.repeatedOption',
          });
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
    .map((o) => ({
      flags: [o.long, o.short].filter((f): f is string => f !== undefined),
      value: o.isBoolean() ? null : valueKind(o),
    }));
  const args = cmd.registeredArguments.map(
    (a): ValueKind =>
      a.argChoices !== undefined
        ? { choices: a.argChoices }
        : cmd.parent?.name() === 'sink'
          ? 'sink'
          : cmd.name() === 'help'
            ? 'command'
            : 'file',
  );
  return { name: cmd.name(), options, args, commands: cmd.commands.map(commandTree) };
}
