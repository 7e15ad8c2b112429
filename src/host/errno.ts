/**
 * Reading what a failed system call said. Node's fs errors, the addon's and
 * the ffi-rs syscalls' errors all carry the errno name in `.code` ("ESRCH",
 * "EPERM"...); these helpers are the one place that reads it.
 */

/** The errno name of an error (`.code`), or undefined when it has none. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** A task that exited between listing and reading is not an error: ENOENT or ESRCH. */
export function isGone(error: unknown): boolean {
  const code = errorCode(error);
  return code === "ENOENT" || code === "ESRCH";
}

/** The message of an error, or the thrown value as text. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
