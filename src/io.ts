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
