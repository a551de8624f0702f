/**
 * The error types that decide exit codes. Commands throw; only src/main.ts maps an error to a
 * code, so every command stays testable through run(argv, io).
 */

/** Bad usage or invalid input: exit 2, message only, never a stack trace. */
export class UserError extends Error {
  override name = 'UserError';
  constructor(
    message: string,
    /** What to do next, printed on its own line. */
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** Something failed at run time that is not the user's input and not a bug: exit 1. */
export class RuntimeFailure extends Error {
  override name = 'RuntimeFailure';
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** An external program failed: exit 1, with its command line and output kept for the user. */
export class ToolError extends Error {
  override name = 'ToolError';
  constructor(
    message: string,
    readonly command: readonly string[],
    readonly output: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}
