/**
 * libc through ffi-rs (no native build needed): the one place that loads
 * ffi-rs and opens libc, for the scheduling syscalls (syscalls-ffi.ts) and
 * the calls the frontend needs that Node does not expose:
 *
 * - getsockopt(fd, SOL_SOCKET, SO_PEERCRED): who is on the other end of an
 *   accepted unix socket. The fd is `socket._handle.fd`, an undocumented but
 *   long-stable field of net.Socket on Unix (libuv's pipe handle); we read it
 *   right after accept, while the connection is open, so the fd cannot be
 *   reused by another connection meanwhile. The kernel records the peer's
 *   pid/uid/gid at connect() time, so the client cannot lie about them.
 * - getrusage(RUSAGE_CHILDREN): CPU of the reaped children of this process,
 *   µs precision (what `alps invoke` reports as cpu_ms; /proc's cutime is
 *   only in clock ticks).
 * - flock(fd, LOCK_EX | LOCK_NB): the daemon's single-instance lock in its
 *   state directory (the kernel drops it however the daemon ends).
 */
import { createRequire } from "node:module";

export type Ffi = typeof import("ffi-rs");

/** The name libc is opened under in ffi-rs (the `library` of every call). */
export const LIBC = "alps-libc";

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
const RUSAGE_CHILDREN = -1;
const LOCK_EX = 2;
const LOCK_NB = 4;

let loaded: Ffi | undefined;

/**
 * ffi-rs with libc opened as LIBC, once per process. Loaded on first use,
 * not imported at the top, so a broken ffi-rs install is a reported reason
 * (thrown here, with its cause) rather than a crash of every module that
 * imports this one.
 */
export function libc(): Ffi {
  if (loaded !== undefined) return loaded;
  const ffi = createRequire(import.meta.url)("ffi-rs") as Ffi;
  ffi.open({ library: LIBC, path: "libc.so.6" });
  loaded = ffi;
  return ffi;
}

interface FfiResult {
  errnoCode: number;
  errnoMessage: string;
  value: number;
}

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

/** SO_PEERCRED of a connected unix socket fd. Throws with the errno message on failure. */
export function peerCredOf(fd: number): PeerCred {
  const cred = Buffer.alloc(12); // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
  const len = Buffer.alloc(4);
  len.writeUInt32LE(12);
  const { DataType, load } = libc();
  const r = load({
    library: LIBC,
    funcName: "getsockopt",
    retType: DataType.I32,
    paramsType: [DataType.I32, DataType.I32, DataType.I32, DataType.U8Array, DataType.U8Array],
    paramsValue: [fd, SOL_SOCKET, SO_PEERCRED, cred, len],
    errno: true,
  }) as unknown as FfiResult;
  if (r.value !== 0) throw new Error(`getsockopt(SO_PEERCRED) on fd ${fd}: ${r.errnoMessage}`);
  return { pid: cred.readInt32LE(0), uid: cred.readUInt32LE(4), gid: cred.readUInt32LE(8) };
}

/** The fd behind a net.Socket (see the file comment), or undefined when it has none. */
export function socketFd(socket: object): number | undefined {
  const handle = (socket as { _handle?: { fd?: unknown } })._handle;
  return typeof handle?.fd === "number" && handle.fd >= 0 ? handle.fd : undefined;
}

/** User + system CPU of this process's reaped children (and theirs), ms. */
export function childrenCpuMs(): number {
  const ru = Buffer.alloc(144); // struct rusage; ru_utime and ru_stime (struct timeval) come first
  const { DataType, load } = libc();
  const r = load({
    library: LIBC,
    funcName: "getrusage",
    retType: DataType.I32,
    paramsType: [DataType.I32, DataType.U8Array],
    paramsValue: [RUSAGE_CHILDREN, ru],
    errno: true,
  }) as unknown as FfiResult;
  if (r.value !== 0) throw new Error(`getrusage(RUSAGE_CHILDREN): ${r.errnoMessage}`);
  const tv = (off: number): number =>
    Number(ru.readBigInt64LE(off)) * 1000 + Number(ru.readBigInt64LE(off + 8)) / 1000;
  return tv(0) + tv(16);
}

/** flock(fd, LOCK_EX | LOCK_NB): true when taken, false when another open file holds it. */
export function flockExclusive(fd: number): boolean {
  const { DataType, load } = libc();
  const r = load({
    library: LIBC,
    funcName: "flock",
    retType: DataType.I32,
    paramsType: [DataType.I32, DataType.I32],
    paramsValue: [fd, LOCK_EX | LOCK_NB],
    errno: true,
  }) as unknown as FfiResult;
  if (r.value === 0) return true;
  if (r.errnoCode === 11) return false; // EWOULDBLOCK
  throw new Error(`flock on fd ${fd}: ${r.errnoMessage}`);
}
