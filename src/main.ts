/**
 * run(argv, io) -> exit code: the one place that maps errors to exit codes, so tests call it
 * directly and only main() touches the process.
 */
import { readFileSync } from 'node:fs';
import { CommanderError } from 'commander';
import type { Handlers } from './cli.js';
import { RuntimeFailure, ToolError, UserError } from './errors.js';
import { type IO, processIO } from './io.js';
import { escapeLines, escapeText } from './ui/escape.js';

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export async function run(argv: readonly string[], io: IO, handlers?: Handlers): Promise<number> {
  let code = 0;
  try {
    if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
      // What commander prints for it, before any command's flags are declared (their modules loaded).
      io.stdout.write(`${packageVersion()}\n`);
      return 0;
    }
    // The command table (every command's flags, a module each) is loaded only past --version.
    const { buildProgram, commandTree } = await import('./cli.js');
    if (argv[0] === '__complete') {
      // Shell completion, on every <TAB>: before commander, which would take the words typed
      // so far (`--name`, `--help`) as its own flags, and without loading any command.
      const tree = commandTree(buildProgram(io, undefined, packageVersion(), () => {}));
      return await (await import('./completion.js')).complete(tree, argv.slice(1), io);
    }
    const program = buildProgram(io, handlers, packageVersion(), (c) => {
      code = c;
    });
    await program.parseAsync(argv.length === 0 ? ['--help'] : [...argv], { from: 'user' });
    return code;
  } catch (err) {
    return await report(err, io);
  }
}

async function report(err: unknown, io: IO): Promise<number> {
  if (err instanceof CommanderError) {
    // Commander has already printed its message (or the help/version text).
    return err.exitCode === 0 ? 0 : 2;
  }
  // Loaded here: Output measures text (string-width), which --help and --version never need.
  const { Output } = await import('./ui/output.js');
  const { wrapLines } = await import('./ui/width.js');
  const out = Output.for(io);
  const style = out.errStyle;
  const red = (s: string) => style.red(s);
  const dim = (s: string) => style.dim(s);
  // Messages quote user input, paths, files' content and tools' output: each line is escaped (our
  // own line breaks kept) before our colour is added, so none of it can drive the terminal, and a
  // tool's ANSI colours (kind's) show visibly as \x1b[...m.
  const e = escapeLines;
  // Our own words are wrapped to a terminal's width, each line's wrap under the line; a tool's
  // output is shown as it came.
  const ours = (label: string, text: string) =>
    `${label === 'hint:' ? dim(label) : red(label)} ${wrapLines(e(text), out.errWidth, label.length + 1)}\n`;
  if (err instanceof UserError || err instanceof RuntimeFailure) {
    io.stderr.write(ours('error:', err.message));
    if (err.hint) io.stderr.write(ours('hint:', err.hint));
    return err instanceof UserError ? 2 : 1;
  }
  if (err instanceof ToolError) {
    io.stderr.write(ours('error:', err.message));
    io.stderr.write(`${dim('command:')} ${err.command.map(escapeText).join(' ')}\n`);
    const output = err.output.trimEnd();
    if (output !== '') io.stderr.write(`${dim('command output:')}\n${e(output).replace(/^/gm, '  ')}\n`);
    if (err.hint) io.stderr.write(ours('hint:', err.hint));
    return 1;
  }
  const sys = err as NodeJS.ErrnoException;
  if (sys instanceof Error && typeof sys.code === 'string' && typeof sys.syscall === 'string') {
    // The system said no (permissions, a full disk): not a bug, and the message names the path.
    io.stderr.write(ours('error:', sys.message));
    return 1;
  }
  // Anything else is a bug: show everything we know.
  io.stderr.write(
    `${red('audit-lab crashed (this is a bug, please report it):')}\n${e(err instanceof Error ? (err.stack ?? err.message) : String(err))}\n`,
  );
  return 1;
}

export function main(): void {
  // `audit-lab ... | head` closes the pipe early: that is the reader's choice, not a failure.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
  run(process.argv.slice(2), processIO()).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${escapeLines(String(err))}\n`);
      process.exitCode = 1;
    },
  );
}
