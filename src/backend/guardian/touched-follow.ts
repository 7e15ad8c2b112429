/**
 * The guardian's view of the touched-task record: the file kept open and
 * its live set kept in memory, brought up to date by `refresh` (the
 * guardian calls it every check and once more before it restores).
 *
 * Why open and in memory: a guardian that re-read the file by its path went
 * blind when the file was deleted (it exited: "nothing left to guard"). An
 * open descriptor keeps the inode, and the daemon keeps writing to that same
 * inode through its own descriptor, so a deleted record is still followed.
 * When the path names a new file (the daemon compacted the log: tmp +
 * rename), the follower switches to it and reads it whole.
 *
 * Only complete lines are applied; reading resumes at the end of the last
 * one, so a line being written (or a torn one the daemon writes over) is
 * read again next time. Data ends at the first NUL (the preallocated room).
 */
import { closeSync, fstatSync, openSync, readSync, statSync } from "node:fs";
import { TouchedRecordParser, type TouchedRecord } from "./touched.js";

const CHUNK = 16 * 1024;

export class RecordFollower {
  readonly path: string;
  #fd: number;
  #ino: bigint;
  /** Byte offset just past the last complete line applied. */
  #lineEnd = 0;
  #parser: TouchedRecordParser;
  /** Times the path was found naming a new file (compactions). */
  switches = 0;

  /** Opens the record; throws (ENOENT...) when it cannot. */
  constructor(path: string) {
    this.path = path;
    this.#fd = openSync(path, "r");
    this.#ino = fstatSync(this.#fd, { bigint: true }).ino;
    this.#parser = new TouchedRecordParser(path);
    this.#read();
  }

  /** Whether the path still names the file being followed. */
  get deleted(): boolean {
    try {
      return statSync(this.path, { bigint: true }).ino !== this.#ino;
    } catch {
      return true;
    }
  }

  /** Switches to a new file at the path if there is one, then applies what was appended. */
  refresh(): void {
    let ino: bigint | undefined;
    try {
      ino = statSync(this.path, { bigint: true }).ino;
    } catch {
      ino = undefined; // deleted: keep following the open inode
    }
    if (ino !== undefined && ino !== this.#ino) {
      let fd: number;
      try {
        fd = openSync(this.path, "r");
      } catch {
        fd = -1; // replaced again meanwhile: next time
      }
      if (fd >= 0) {
        closeSync(this.#fd);
        this.#fd = fd;
        this.#ino = fstatSync(fd, { bigint: true }).ino;
        this.#lineEnd = 0;
        this.#parser = new TouchedRecordParser(this.path);
        this.switches++;
      }
    }
    this.#read();
  }

  #read(): void {
    const chunks: Buffer[] = [];
    let at = this.#lineEnd;
    for (;;) {
      const buf = Buffer.alloc(CHUNK);
      const n = readSync(this.#fd, buf, 0, CHUNK, at);
      if (n <= 0) break;
      const nul = buf.subarray(0, n).indexOf(0);
      chunks.push(buf.subarray(0, nul < 0 ? n : nul));
      if (nul >= 0 || n < CHUNK) break;
      at += n;
    }
    const data = Buffer.concat(chunks);
    const last = data.lastIndexOf(0x0a);
    if (last < 0) return;
    this.#parser.feed(data.subarray(0, last + 1).toString("utf8"));
    this.#lineEnd += last + 1;
  }

  /** Nothing in the live set as of the last refresh (no task, no cgroup): nothing to restore. */
  get empty(): boolean {
    return this.#parser.tasks.size === 0 && this.#parser.cgroups.size === 0;
  }

  /** The live set as of the last refresh. */
  record(): TouchedRecord {
    return this.#parser.record();
  }

  close(): void {
    closeSync(this.#fd);
  }
}
