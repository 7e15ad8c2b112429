/**
 * Exit statuses of `alps`, in one place (README "Exit status"):
 *   0   success
 *   1   the command failed (for example: no daemon answers on the socket)
 *   2   usage: a bad flag, variable, config file or input file
 * `alps invoke` passes its command's own status through (128 + n when a
 * signal n ended it), so its own failures use statuses a command rarely
 * does, as env(1), chroot(1) and `docker run` do:
 *   125 alps invoke itself failed (usage, daemon unreachable, refused)
 *   126 the command was found but could not be executed
 *   127 the command was not found
 */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  invokeFailed: 125,
  cannotExecute: 126,
  notFound: 127,
} as const;
