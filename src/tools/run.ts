/**
 * The one way audit-lab runs another program: execa with an argument array (never a shell
 * string), a timeout, stdout and stderr kept, and each output line handed to a callback so a
 * spinner can show the tool's own progress. A failure becomes a ToolError that keeps the command
 * line and the output; a program that is not installed becomes a ToolMissing that says how to
 * install it.
 */
import { execa } from 'execa';
import { RuntimeFailure, ToolError } from '../errors.js';

export type ToolName = 'kind' | 'kubectl' | 'docker';

/** How to get each tool; printed whenever one is missing. */
export const INSTALL_HINTS: Record<ToolName, string> = {
  docker: 'install Docker (https://docs.docker.com/get-docker/; Docker Desktop on macOS and Windows) and start it',
  kind: 'install kind (https://kind.sigs.k8s.io/docs/user/quick-start/#installation, e.g. `go install sigs.k8s.io/kind@latest`)',
  kubectl: 'install kubectl (https://kubernetes.io/docs/tasks/tools/)',
};

/** A tool audit-lab needs is not on PATH: exit 1, with how to install it. */
export class ToolMissing extends RuntimeFailure {
  override name = 'ToolMissing';
  constructor(readonly tool: string) {
    const how = (INSTALL_HINTS as Record<string, string>)[tool] ?? `install ${tool}`;
    super(`${tool} is not on PATH`, `${how}, or run \`audit-lab doctor\` to check everything audit-lab needs`);
  }
}

export interface RunOptions {
  /** Written to the program's stdin; without it stdin is empty (never the terminal). */
  input?: string;
  /** Kill the program after this long (default 60 s). */
  timeoutMs?: number;
  /** Every line the program prints, stdout and stderr, as it comes. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Return a non-zero exit instead of throwing (the caller reads exitCode). */
  allowFailure?: boolean;
  /** Message of the ToolError thrown on failure (default: "`kind create cluster` failed (exit 1)"). */
  failMessage?: string;
  /** Hint of the ToolError thrown on failure. */
  hint?: string;
}

export interface RunResult {
  command: readonly string[];
  stdout: string;
  stderr: string;
  /** stdout and stderr lines in the order they arrived. */
  output: string;
  exitCode: number;
  timedOut: boolean;
}

export interface Runner {
  run(file: string, args: readonly string[], opts?: RunOptions): Promise<RunResult>;
}

export const DEFAULT_TIMEOUT_MS = 60_000;
/** Kept of a failing tool's output: enough for kind's whole story, not a runaway log. */
const MAX_OUTPUT_LINES = 200;

/** A command line as a user would type it (for messages, --dry-run and --verbose). */
export function commandLine(argv: readonly string[]): string {
  return argv.map(quoteArg).join(' ');
}

function quoteArg(arg: string): string {
  if (arg !== '' && /^[-A-Za-z0-9_./:=@,+%]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

function shortName(argv: readonly string[]): string {
  // "kind create cluster", "kubectl get", "docker exec": the tool and its verbs, not every flag.
  const words: string[] = [];
  for (const a of argv) {
    if (a.startsWith('-') || words.length === 3) break;
    words.push(a);
  }
  return words.join(' ');
}

function lastLines(text: string, n: number): string {
  const lines = text.split('\n');
  return lines.length <= n ? text : [`... (${lines.length - n} earlier lines)`, ...lines.slice(-n)].join('\n');
}

/** The runner every command uses; env decides PATH (tests put fake tools first on it). */
export function createRunner(
  env: NodeJS.ProcessEnv,
  hooks: { onCommand?: (argv: readonly string[]) => void } = {},
): Runner {
  return {
    async run(file, args, opts = {}) {
      const command = [file, ...args];
      hooks.onCommand?.(command);
      const lines: string[] = [];
      const collect = (stream: 'stdout' | 'stderr') =>
        function* (line: unknown) {
          const text = String(line);
          lines.push(text);
          opts.onLine?.(text, stream);
          yield line;
        };
      const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
      const r = await execa(file, args, {
        env,
        extendEnv: false,
        reject: false,
        timeout: timeoutMs,
        // No input means an empty stdin, so a tool never waits on the user's terminal.
        ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' as const }),
        stdout: [collect('stdout')],
        stderr: [collect('stderr')],
        stripFinalNewline: true,
      });
      if (
        (r as { code?: string }).code === 'ENOENT' ||
        (r.failed && r.exitCode === undefined && /ENOENT/.test(r.message ?? ''))
      ) {
        throw new ToolMissing(file);
      }
      const result: RunResult = {
        command,
        stdout: String(r.stdout ?? ''),
        stderr: String(r.stderr ?? ''),
        output: lines.join('\n'),
        exitCode: r.exitCode ?? (r.timedOut ? 124 : 1),
        timedOut: Boolean(r.timedOut),
      };
      if (result.timedOut) {
        throw new ToolError(
          `\`${shortName(command)}\` did not finish within ${Math.round(timeoutMs / 1000)}s and was stopped`,
          command,
          lastLines(result.output, MAX_OUTPUT_LINES),
          opts.hint,
        );
      }
      if (result.exitCode !== 0 && !opts.allowFailure) {
        throw new ToolError(
          opts.failMessage ?? `\`${shortName(command)}\` failed (exit ${result.exitCode})`,
          command,
          lastLines(result.output, MAX_OUTPUT_LINES),
          opts.hint,
        );
      }
      return result;
    },
  };
}
