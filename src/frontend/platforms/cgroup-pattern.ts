/**
 * Generic adapter: every cgroup v2 directory that matches a configured
 * pattern (see pattern.ts) is a sandbox of the function its `{function}`
 * segment names. For Knative/Kubernetes pods, plain containers, or any
 * platform that puts one function per cgroup and says which in the path.
 */
import type { Dirent } from "node:fs";
import { readdir } from "node:fs/promises";
import { isAbsolute, join, relative } from "node:path";
import { UsageError } from "../../errors.js";
import { cgroup2Mount } from "../../host/cgroups.js";
import { DEFAULT_POLL_MS, DiffWatcher } from "./diff-watcher.js";
import { type CgroupPattern, matchSegment, parseCgroupPattern } from "./pattern.js";
import type {
  AdapterErrorListener,
  PlatformAdapter,
  PlatformScan,
  PlatformSource,
  SandboxEvent,
  SandboxInfo,
} from "./types.js";

export interface CgroupPatternOptions {
  /** e.g. "/sys/fs/cgroup/kubepods.slice/*\/{function}/*" */
  pattern: string;
  pollMs?: number;
  onError?: AdapterErrorListener;
  /** The cgroup v2 mount the pattern must lie in (default: read from mountinfo). */
  cgroupMount?: string;
}

/** Subdirectories of `dir`; none if it vanished meanwhile (a sandbox removed mid-walk is simply gone). */
async function subdirs(dir: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  return entries.filter((e) => e.isDirectory()).map((e) => e.name);
}

/** Every directory matching `pattern` now, with the function it names. */
export async function scanPattern(pattern: CgroupPattern): Promise<SandboxInfo[]> {
  let frontier: { path: string; fn: string | undefined }[] = [
    { path: pattern.root, fn: undefined },
  ];
  for (const seg of pattern.segments) {
    const next: typeof frontier = [];
    for (const at of frontier) {
      for (const name of await subdirs(at.path)) {
        const got = matchSegment(seg, name);
        if (got === undefined) continue;
        next.push({ path: join(at.path, name), fn: seg.captures ? got : at.fn });
      }
    }
    frontier = next;
  }
  return frontier.flatMap((s) => (s.fn ? [{ fn: s.fn, cgroupPath: s.path, id: s.path }] : []));
}

export class CgroupPatternAdapter implements PlatformAdapter {
  readonly kind = "cgroup-pattern" as const;
  readonly pattern: CgroupPattern;
  readonly #watcher: DiffWatcher;
  readonly #mount: string | undefined;

  constructor(opts: CgroupPatternOptions) {
    this.pattern = parseCgroupPattern(opts.pattern);
    this.#mount = opts.cgroupMount;
    const onError =
      opts.onError ?? ((err: Error) => console.error(`cgroup-pattern adapter: ${err.message}`));
    this.#watcher = new DiffWatcher(
      () => scanPattern(this.pattern),
      opts.pollMs ?? DEFAULT_POLL_MS,
      onError,
    );
  }

  get source(): PlatformSource {
    return { kind: "pattern", path: this.pattern.source };
  }

  /**
   * A pattern outside the v2 hierarchy (say /sys/fs/cgroup/... on a hybrid
   * host whose v2 is at /sys/fs/cgroup/unified) would match v1 directories
   * the BPF side cannot use: refuse it instead of finding nothing silently.
   */
  #checkInsideV2(): void {
    const mount = this.#mount ?? cgroup2Mount();
    const rel = relative(mount, this.pattern.root);
    if (rel.startsWith("..") || isAbsolute(rel)) {
      throw new UsageError(
        `--pattern ${JSON.stringify(this.pattern.source)}: ${this.pattern.root} is not inside the cgroup v2 mount ${mount}`,
      );
    }
  }

  async start(listener: (e: SandboxEvent) => void): Promise<void> {
    this.#checkInsideV2();
    await this.#watcher.start(listener);
  }

  async scan(): Promise<PlatformScan> {
    this.#checkInsideV2();
    return { sandboxes: await scanPattern(this.pattern), refused: [] };
  }

  stop(): Promise<void> {
    return this.#watcher.stop();
  }

  snapshot(): SandboxInfo[] {
    return this.#watcher.snapshot();
  }
}
