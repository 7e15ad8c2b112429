/**
 * OpenLambda adapter (SOCK sandboxes, cgroup v2).
 *
 * Matched against open-lambda/open-lambda at a288ce1e (files and the
 * commits that last changed them are listed in docs/platforms.md):
 *   - go/common/config.go, CgroupPoolPath(olPath): the worker's cgroup root
 *     is /sys/fs/cgroup/<basename(olPath)>-sandboxes;
 *     go/worker/sandbox/cgroups/pool.go keeps a reserve of CGROUP_RESERVE
 *     (16) empty cgroups named cg-<N>, and cgroup.go's KillAndRelease
 *     recycles a released one when Reuse_cgroups is on. So a cg-<N>
 *     directory is a sandbox only while processes are in it.
 *   - go/worker/lambda/lambdaInstance.go, Task(): each new sandbox gets
 *     scratchDir = lmgr.scratchDirs.Make(f.name), and DirMaker.Make
 *     (go/common/storage.go) names it "<Worker_dir>/scratch/<seq>-<lambda>";
 *     the import cache's Zygotes use Make("import-cache")
 *     (go/worker/lambda/zygote/importCache.go).
 *   - go/worker/sandbox/sock.go: populateRoot bind-mounts the scratch dir at
 *     <containerRootDir>/host and the code dir at <containerRootDir>/handler,
 *     and freshProc runs the sandbox's server under `chroot
 *     <containerRootDir>` in the cgroup.
 * Hence the lambda of cg-<N>: take a process in it whose root is not the
 * host's, find the mount at /host in /proc/<pid>/mountinfo (mount points are
 * shown relative to the process's root) and take the basename of its source
 * path minus the "<seq>-" prefix; that name is the function key, as a hook in
 * the request loop would name it (f.name). Zygotes ("import-cache") are not
 * function sandboxes (their forked children move into the leaf's cgroup) and
 * are skipped. A scratch dir named "sb" (an older tree's sandboxset; the
 * current one has none) falls back to the code dir mounted at /handler.
 * OpenLambda's docker sandbox is not covered.
 */
import { readdir, readFile, readlink } from "node:fs/promises";
import { basename, join } from "node:path";
import { cgroup2Mount, decodeMountinfo } from "../../host/cgroups.js";
import { DEFAULT_POLL_MS, DiffWatcher } from "./diff-watcher.js";
import type {
  AdapterErrorListener,
  PlatformAdapter,
  PlatformScan,
  PlatformSource,
  SandboxEvent,
  SandboxInfo,
} from "./types.js";

export interface OpenLambdaOptions {
  /** The OpenLambda directory (`ol worker init -p DIR`; parent of Worker_dir). Used to derive the cgroup root. */
  olPath?: string;
  /** The worker's cgroup pool root; default <cgroup v2 mount>/<basename(olPath)>-sandboxes. */
  cgroupRoot?: string;
  pollMs?: number;
  onError?: AdapterErrorListener;
}

/** Scratch-dir names that are not a lambda. */
const NOT_A_LAMBDA = new Set(["import-cache", "tool"]);

/** The source path's basename of the mount at `mountPoint` in mountinfo text, if mounted there. */
export function mountSourceBasename(mountinfo: string, mountPoint: string): string | undefined {
  let found: string | undefined;
  for (const line of mountinfo.split("\n")) {
    const f = line.split(" ");
    // Fields: id parent maj:min root mount-point ...; the last mount on a point wins.
    if (
      f.length > 4 &&
      f[4] !== undefined &&
      decodeMountinfo(f[4]) === mountPoint &&
      f[3] !== undefined
    ) {
      found = basename(decodeMountinfo(f[3]));
    }
  }
  return found;
}

/** "<seq>-<name>" (DirMaker.Make) → name. */
export function stripDirMakerSeq(dirName: string): string | undefined {
  const m = /^\d+-(.+)$/.exec(dirName);
  return m?.[1];
}

/** The lambda a sandbox process serves, from its mounts; undefined when it is not a lambda sandbox's process. */
export async function lambdaOfPid(pid: number): Promise<string | undefined> {
  const root = await readlink(`/proc/${pid}/root`);
  if (root === "/") return undefined; // not chrooted: not a SOCK sandbox process (yet)
  const mountinfo = await readFile(`/proc/${pid}/mountinfo`, "utf8");
  const scratch = mountSourceBasename(mountinfo, "/host");
  const fromScratch = scratch === undefined ? undefined : stripDirMakerSeq(scratch);
  if (fromScratch !== undefined && NOT_A_LAMBDA.has(fromScratch)) return undefined;
  if (fromScratch !== undefined && fromScratch !== "sb") return fromScratch;
  const code = mountSourceBasename(mountinfo, "/handler");
  return code === undefined ? undefined : (stripDirMakerSeq(code) ?? code);
}

async function pidsOf(cgroupDir: string): Promise<number[]> {
  try {
    const text = await readFile(join(cgroupDir, "cgroup.procs"), "utf8");
    return text
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map(Number);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}

/**
 * What the last scan learnt per cgroup: the process it read and the lambda.
 * A busy sandbox keeps its process, so rescans read one cgroup.procs per
 * cgroup and re-read mountinfo only when that process is gone.
 */
export type LambdaCache = Map<string, { pid: number; fn: string }>;

export async function scanOpenLambda(
  cgroupRoot: string,
  cache: LambdaCache = new Map(),
): Promise<SandboxInfo[]> {
  let names: string[];
  try {
    names = (await readdir(cgroupRoot, { withFileTypes: true }))
      .filter((e) => e.isDirectory() && /^cg-\d+$/.test(e.name))
      .map((e) => e.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new Error(
        `OpenLambda cgroup root ${cgroupRoot} does not exist (is the worker initialised? see --ol-path / --cgroup-root)`,
      );
    }
    throw err;
  }
  const found: SandboxInfo[] = [];
  const seen = new Set<string>();
  for (const name of names) {
    const dir = join(cgroupRoot, name);
    const pids = await pidsOf(dir);
    const cached = cache.get(dir);
    if (cached && pids.includes(cached.pid)) {
      found.push({ fn: cached.fn, cgroupPath: dir, id: dir });
      seen.add(dir);
      continue;
    }
    for (const pid of pids) {
      let fn: string | undefined;
      try {
        fn = await lambdaOfPid(pid);
      } catch (err) {
        // The process exited between reading cgroup.procs and /proc: try the next one.
        if (
          (err as NodeJS.ErrnoException).code === "ENOENT" ||
          (err as NodeJS.ErrnoException).code === "ESRCH"
        )
          continue;
        throw err;
      }
      if (fn !== undefined) {
        found.push({ fn, cgroupPath: dir, id: dir });
        cache.set(dir, { pid, fn });
        seen.add(dir);
        break;
      }
    }
  }
  for (const dir of cache.keys()) if (!seen.has(dir)) cache.delete(dir);
  return found;
}

export function defaultOpenLambdaCgroupRoot(olPath: string, mount = cgroup2Mount()): string {
  return join(mount, `${basename(olPath)}-sandboxes`);
}

export class OpenLambdaAdapter implements PlatformAdapter {
  readonly kind = "openlambda" as const;
  readonly cgroupRoot: string;
  readonly #watcher: DiffWatcher;

  constructor(opts: OpenLambdaOptions) {
    if (opts.cgroupRoot === undefined && opts.olPath === undefined) {
      throw new Error("openlambda adapter needs olPath (the `ol` directory) or cgroupRoot");
    }
    this.cgroupRoot = opts.cgroupRoot ?? defaultOpenLambdaCgroupRoot(opts.olPath ?? "");
    const onError =
      opts.onError ?? ((err: Error) => console.error(`openlambda adapter: ${err.message}`));
    const cache: LambdaCache = new Map();
    this.#watcher = new DiffWatcher(
      () => scanOpenLambda(this.cgroupRoot, cache),
      opts.pollMs ?? DEFAULT_POLL_MS,
      onError,
    );
  }

  get source(): PlatformSource {
    return { kind: "cgroup-root", path: this.cgroupRoot };
  }

  start(listener: (e: SandboxEvent) => void): Promise<void> {
    return this.#watcher.start(listener);
  }

  async scan(): Promise<PlatformScan> {
    return { sandboxes: await scanOpenLambda(this.cgroupRoot), refused: [] };
  }

  stop(): Promise<void> {
    return this.#watcher.stop();
  }

  snapshot(): SandboxInfo[] {
    return this.#watcher.snapshot();
  }
}
