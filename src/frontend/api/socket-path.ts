/**
 * Where the daemon's control API listens unless `--socket` or ALPS_SOCKET
 * says otherwise: the daemon's `socket` option (config.ts) and the clients
 * (`alps invoke`, `alps policy`) share it. No imports, so a client starts fast.
 */
export const DEFAULT_SOCKET = "/run/alps/alps.sock";
export const SOCKET_ENV = "ALPS_SOCKET";
