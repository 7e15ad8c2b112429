/**
 * `--socket` of the daemon's clients: the same default and variable as
 * `alps daemon --socket` (without loading the daemon's config module).
 */
import { Option } from "commander";
import { DEFAULT_SOCKET, SOCKET_ENV } from "../frontend/api/socket-path.js";

export function socketOption(): Option {
  return new Option(
    "--socket <path>",
    `the daemon's control API socket (default: ${DEFAULT_SOCKET}, env: ${SOCKET_ENV})`,
  );
}

/** The socket a client talks to: the flag, else the variable, else the default. */
export function socketOf(flags: { socket?: string }): string {
  return flags.socket ?? (process.env[SOCKET_ENV] || DEFAULT_SOCKET);
}
