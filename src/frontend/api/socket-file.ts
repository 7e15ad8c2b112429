/**
 * One unix socket file of the control API (the HTTP socket, the line
 * protocol's): created 0600 (0660 and the configured group with a socket
 * group) from the moment it exists, a stale file from a dead daemon removed
 * first (never one a live daemon answers on, never something that is not a
 * socket), recreated when someone deletes it, and removed at close if it is
 * still ours.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, unlinkSync } from "node:fs";
import { connect, type Server } from "node:net";
import { dirname } from "node:path";
import { resolveGid } from "./socket-group.js";

/** Inode of the socket file at `path`, or undefined when there is none. */
function socketInode(path: string): bigint | undefined {
  try {
    const st = lstatSync(path, { bigint: true });
    return st.isSocket() ? st.ino : undefined;
  } catch {
    return undefined;
  }
}

function pathExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Remove a leftover socket file, but never one a live daemon still answers on. */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket = false;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  const live = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
  if (live) throw new Error(`another daemon is listening on ${path}`);
  unlinkSync(path);
}

export interface SocketFileOptions {
  path: string;
  /** Group (name or gid) allowed to use the socket; without it only the owner (root). */
  group?: string | undefined;
  /** A new server (the first, and one per recreation). */
  create: () => Server;
  log?: ((message: string) => void) | undefined;
  /** What the log calls it ("api", "line api"). */
  name: string;
}

export class SocketFile {
  readonly #opts: SocketFileOptions;
  /** Listening servers: the first, then one per recreation of a deleted socket. */
  readonly #servers: Server[] = [];
  /** Inode of the socket file this server created (to notice it was deleted or replaced). */
  #inode: bigint | undefined;
  /** The socket path holds something that is not ours: said once, not touched. */
  #foreignSaid = false;
  /** Times the socket file was found deleted and recreated. */
  recreated = 0;

  constructor(opts: SocketFileOptions) {
    this.#opts = opts;
  }

  get path(): string {
    return this.#opts.path;
  }

  async listen(): Promise<void> {
    mkdirSync(dirname(this.#opts.path), { recursive: true, mode: 0o755 });
    await removeStaleSocket(this.#opts.path);
    await this.#listenOn(this.#opts.create());
  }

  async #listenOn(server: Server): Promise<void> {
    const { path, group } = this.#opts;
    // The umask makes the socket 0600 from the moment it exists; chmod below only widens it to the group.
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(path, () => {
          server.off("error", reject);
          resolve();
        });
      });
    } finally {
      process.umask(oldMask);
    }
    this.#servers.push(server);
    chmodSync(path, 0o600);
    if (group !== undefined) {
      chownSync(path, process.getuid?.() ?? 0, resolveGid(group));
      chmodSync(path, 0o660);
    }
    this.#inode = socketInode(path);
  }

  /**
   * A socket file someone deleted leaves the daemon listening on an inode no
   * client can reach: recreate it (and log it). Something else at the path
   * is left alone and reported once. Returns what it found.
   */
  async check(): Promise<"ok" | "recreated" | "foreign"> {
    const { path, name } = this.#opts;
    const inode = socketInode(path);
    if (inode !== undefined && inode === this.#inode) return "ok";
    if (inode !== undefined || pathExists(path)) {
      if (!this.#foreignSaid)
        this.#opts.log?.(
          `${name}: ${path} was replaced by something this daemon did not create; leaving it alone (clients cannot reach this daemon)`,
        );
      this.#foreignSaid = true;
      return "foreign";
    }
    this.#foreignSaid = false;
    // The old listener is bound to an inode nobody can reach: stop it first
    // (closing a unix-socket server unlinks its path, which would take the
    // new socket with it); its open connections finish.
    for (const server of this.#servers.splice(0)) server.close();
    try {
      await this.#listenOn(this.#opts.create());
    } catch (error) {
      this.#opts.log?.(`${name}: ${path} was deleted and could not be recreated: ${String(error)}`);
      return "foreign";
    }
    this.recreated++;
    this.#opts.log?.(`${name}: ${path} was deleted; recreated it`);
    return "recreated";
  }

  /** Stops listening, ends open connections (`closeAll`), and removes the file if it is still ours. */
  async close(closeAll: (server: Server) => void): Promise<void> {
    for (const server of this.#servers.splice(0)) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      closeAll(server);
      await closed;
    }
    if (socketInode(this.#opts.path) === this.#inode) {
      try {
        unlinkSync(this.#opts.path);
      } catch {
        // already gone
      }
    }
  }
}
