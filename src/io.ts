/** What a command may touch of the outside world; tests pass their own. */
export interface OutStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
  /** A terminal's height (top's screen). */
  rows?: number;
  /** A stream's backlog is past its mark: wait for 'drain' before writing more. */
  writableNeedDrain?: boolean;
  once?(event: 'drain', listener: () => void): unknown;
}

export interface IO {
  stdout: OutStream;
  stderr: OutStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Read only for `--file -`; absent in tests that pass their own IO. */
  stdin?: NodeJS.ReadableStream;
}

export function processIO(): IO {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd(), stdin: process.stdin };
}

/**
 * The width lines written to `stream` are fitted to: a terminal's columns; COLUMNS, then 80, when
 * the terminal reports none (a pseudo-terminal with no size). Off a terminal none: a pipe or a
 * file gets whole lines, cut or wrapped nowhere.
 */
export function terminalWidth(stream: OutStream, env: NodeJS.ProcessEnv): number | undefined {
  if (stream.isTTY !== true) return undefined;
  if (stream.columns !== undefined && stream.columns > 0) return stream.columns;
  const given = Number(env.COLUMNS);
  return Number.isInteger(given) && given > 0 ? given : 80;
}
