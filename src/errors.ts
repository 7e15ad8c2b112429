/**
 * The project's own error for bad input: it always names where the problem
 * is (file, 1-based line, field) so a user can fix the input. CLI commands
 * print `error.message` and exit with code 2.
 */
export class InputError extends Error {
  override readonly name = "InputError";
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly field: string | undefined,
    readonly problem: string,
  ) {
    super(
      `${file}${line !== undefined ? `:${line}` : ""}${field !== undefined ? `: field '${field}'` : ""}: ${problem}`,
    );
  }
}

/** A problem with flags or configuration (not a file's content). */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** A failure the user can act on: said in one line (no stack), exit status `exitCode`. */
export class CliError extends Error {
  override readonly name: string = "CliError";
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** The daemon's control socket cannot be reached, or the daemon did not answer. */
export class DaemonUnreachableError extends CliError {
  override readonly name = "DaemonUnreachableError";
  constructor(
    readonly socket: string,
    readonly reason: string,
  ) {
    super(`cannot reach the alps daemon on ${socket}: ${reason}`);
  }
}

/**
 * The touched-task record could not take a change (the state directory is
 * full, or its preallocated room is used up): the change is not made, since
 * nothing could undo it if the daemon died. The control API answers 503.
 */
export class RecordError extends Error {
  override readonly name = "RecordError";
}
