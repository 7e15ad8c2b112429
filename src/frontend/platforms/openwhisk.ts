/**
 * OpenWhisk adapter: the invoker's containers, read from Docker.
 *
 * Names (openwhisk-names.ts): `<prefix>_<seq>_<key>`, the key taken whole.
 * Stem cells (`prewarm_<kind>`, e.g. two `prewarm_nodejs20` per invoker
 * by default) are declared too, under their own name as a temporary key:
 * the invoker hands one to the first cold start of any action of that kind
 * and never renames it (no rename call anywhere in its container pool), so
 * without help the key stays temporary for the container's life. Two things
 * make it final: a Docker `rename` event (an invoker patched to rename, or
 * an operator's tool), or the first invocation a hook registers from inside
 * the container (`noteInvocation`), whose key then becomes the sandbox's.
 *
 * Cgroups (container-cgroup.ts): a container's v2 cgroup is accepted only
 * when its path names the container and no other container is in it;
 * otherwise the container is refused, reported once through onError, and
 * listed by `scan()` for `alps doctor`.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { cgroup2Mount } from "../../host/cgroups.js";
import { parseProcCgroups, resolveContainerCgroup } from "./container-cgroup.js";
import { DEFAULT_DOCKER_SOCKET, DockerClient, type DockerEvent } from "./docker-api.js";
import { parseInvokerContainerName } from "./openwhisk-names.js";
import type {
  AdapterErrorListener,
  PlatformAdapter,
  PlatformScan,
  PlatformSource,
  RefusedSandbox,
  SandboxEvent,
  SandboxInfo,
} from "./types.js";

export interface OpenWhiskOptions {
  dockerSocket?: string;
  /** Cgroup v2 mount (default: from mountinfo). */
  cgroupMount?: string;
  /** Wait before re-opening a lost event stream. */
  reconnectMs?: number;
  onError?: AdapterErrorListener;
}

/** A declared container: its sandbox and the name it had when last read. */
interface Known extends SandboxInfo {
  name: string;
  /** The v2 directory its init is in (cgroupPath, or below it). */
  initDir: string;
  /** A hook's key differing from ours was reported once already. */
  mismatchReported?: boolean;
}

type Described = { kind: "sandbox"; known: Known } | { kind: "refused"; refused: RefusedSandbox };

function refusalMessage(r: RefusedSandbox): string {
  return `container ${r.name} (${r.id.slice(0, 12)}) not declared: ${r.detail}; see alps doctor --platform openwhisk`;
}

export class OpenWhiskAdapter implements PlatformAdapter {
  readonly kind = "openwhisk" as const;
  readonly #docker: DockerClient;
  readonly #mountOption: string | undefined;
  readonly #reconnectMs: number;
  readonly #onError: AdapterErrorListener;
  readonly #known = new Map<string, Known>();
  /** Refusals already reported, by container id: reported once, forgotten when it dies. */
  readonly #refused = new Map<string, RefusedSandbox>();
  /** Which declared container a hook's pid was found in (pids are not re-read every invocation). */
  readonly #pidOwner = new Map<number, string>();
  #listener: ((e: SandboxEvent) => void) | undefined;
  #abort: AbortController | undefined;
  /** Listing, events and invocations are applied one at a time, in arrival order. */
  #chain: Promise<void> = Promise.resolve();
  #streamDone: Promise<void> = Promise.resolve();

  constructor(opts: OpenWhiskOptions = {}) {
    this.#docker = new DockerClient(opts.dockerSocket ?? DEFAULT_DOCKER_SOCKET);
    this.#mountOption = opts.cgroupMount;
    this.#reconnectMs = opts.reconnectMs ?? 1000;
    this.#onError =
      opts.onError ?? ((err: Error) => console.error(`openwhisk adapter: ${err.message}`));
  }

  get source(): PlatformSource {
    return { kind: "docker-socket", path: this.#docker.socketPath };
  }

  get #mount(): string {
    return this.#mountOption ?? cgroup2Mount();
  }

  async start(listener: (e: SandboxEvent) => void): Promise<void> {
    if (this.#abort) throw new Error("adapter already started");
    this.#listener = listener;
    this.#abort = new AbortController();
    // Subscribe before listing, so a container that starts or dies during
    // the listing is seen by the events queued behind it.
    const opened = this.#follow(this.#abort.signal);
    this.#streamDone = opened.done;
    try {
      await opened.connected;
      await this.#enqueue(() => this.#resync());
    } catch (err) {
      // Leave no stream behind, and allow another start() once Docker is back.
      await this.stop();
      this.#abort = undefined;
      throw err;
    }
  }

  async stop(): Promise<void> {
    this.#abort?.abort();
    await this.#streamDone;
    await this.#chain;
    this.#listener = undefined;
  }

  snapshot(): SandboxInfo[] {
    return [...this.#known.values()].map(({ fn, cgroupPath, id, provisional }) => ({
      fn,
      cgroupPath,
      id,
      ...(provisional ? { provisional } : {}),
    }));
  }

  async scan(): Promise<PlatformScan> {
    const described: Described[] = [];
    for (const { id } of await this.#invokerContainers()) {
      const d = await this.#describe(id);
      if (d) described.push(d);
    }
    return this.#separate(described);
  }

  noteInvocation(fn: string, pid: number): void {
    if (this.#known.size === 0) return;
    void this.#enqueue(() => this.#claim(fn, pid));
  }

  #enqueue(step: () => Promise<void>): Promise<void> {
    const run = this.#chain.then(step);
    this.#chain = run.catch((err: unknown) =>
      this.#onError(err instanceof Error ? err : new Error(String(err))),
    );
    return run;
  }

  #emit(type: SandboxEvent["type"], s: Known, rekeyed?: SandboxEvent["rekeyed"]): void {
    this.#listener?.({
      type,
      fn: s.fn,
      cgroupPath: s.cgroupPath,
      id: s.id,
      ...(s.provisional ? { provisional: true } : {}),
      ...(rekeyed ? { rekeyed } : {}),
    });
  }

  /** An invoker container's sandbox or refusal; undefined if it is not one, not running or gone. */
  async #describe(id: string): Promise<Described | undefined> {
    const c = await this.#docker.inspect(id);
    if (c === undefined || !c.State.Running || c.State.Pid <= 0) return undefined;
    const parsed = parseInvokerContainerName(c.Name);
    if (!parsed) return undefined;
    const name = c.Name.replace(/^\//, "");
    let procCgroup: string;
    try {
      procCgroup = await readFile(`/proc/${c.State.Pid}/cgroup`, "utf8");
    } catch (err) {
      // The container's init exited between inspect and reading /proc: it is gone.
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    const cg = resolveContainerCgroup(c.Id, procCgroup, this.#mount);
    if (!cg.ok) {
      const { problem, namedInV1, detail } = cg;
      return {
        kind: "refused",
        refused: {
          id: c.Id,
          name,
          problem,
          namedInV1,
          detail,
          ...(cg.cgroupPath !== undefined ? { cgroupPath: cg.cgroupPath } : {}),
        },
      };
    }
    const initDir = join(this.#mount, parseProcCgroups(procCgroup).v2 ?? "");
    const known: Known = { fn: parsed.key, cgroupPath: cg.cgroupPath, id: c.Id, name, initDir };
    if (parsed.prewarmKind !== undefined) known.provisional = true;
    return { kind: "sandbox", known };
  }

  /**
   * Splits described containers into sandboxes and refusals. A container's
   * cgroup that another container's init is in (or below) is shared: that
   * container is refused too.
   */
  #separate(described: Described[]): PlatformScan & { known: Known[] } {
    const inits = described.map((d) =>
      d.kind === "sandbox"
        ? { id: d.known.id, dir: d.known.initDir }
        : { id: d.refused.id, dir: d.refused.cgroupPath },
    );
    const known: Known[] = [];
    const refused: RefusedSandbox[] = [];
    for (const d of described) {
      if (d.kind === "refused") refused.push(d.refused);
      else if (inits.some((o) => o.id !== d.known.id && within(o.dir, d.known.cgroupPath)))
        refused.push(sharedRefusal(d.known));
      else known.push(d.known);
    }
    const sandboxes = known.map(({ fn, cgroupPath, id, provisional }) => ({
      fn,
      cgroupPath,
      id,
      ...(provisional ? { provisional } : {}),
    }));
    return { sandboxes, refused, known };
  }

  #refuse(r: RefusedSandbox): void {
    if (this.#refused.has(r.id)) return;
    this.#refused.set(r.id, r);
    this.#onError(new Error(refusalMessage(r)));
  }

  async #add(id: string): Promise<void> {
    if (this.#known.has(id)) return;
    const d = await this.#describe(id);
    if (!d || this.#known.has(id)) return;
    // A declared container whose cgroup holds the newcomer's init is shared from now on.
    const newInit = d.kind === "sandbox" ? d.known.initDir : d.refused.cgroupPath;
    for (const k of [...this.#known.values()]) {
      if (!within(newInit, k.cgroupPath)) continue;
      this.#remove(k.id);
      this.#refuse(sharedRefusal(k));
    }
    if (d.kind === "refused") return this.#refuse(d.refused);
    if ([...this.#known.values()].some((k) => within(k.initDir, d.known.cgroupPath)))
      return this.#refuse(sharedRefusal(d.known));
    this.#known.set(id, d.known);
    this.#emit("add", d.known);
  }

  #remove(id: string): void {
    this.#refused.delete(id);
    const s = this.#known.get(id);
    if (!s) return;
    this.#known.delete(id);
    for (const [pid, owner] of this.#pidOwner) if (owner === id) this.#pidOwner.delete(pid);
    this.#emit("remove", s);
  }

  /** Docker renamed a container: re-key it, or start or stop following it. */
  async #rename(id: string, newName: string): Promise<void> {
    const s = this.#known.get(id);
    if (s === undefined) return this.#add(id);
    const parsed = parseInvokerContainerName(newName);
    if (parsed === undefined) return this.#remove(id);
    s.name = newName.replace(/^\//, "");
    if (parsed.key === s.fn) return;
    const from = s.fn;
    s.fn = parsed.key;
    if (parsed.prewarmKind !== undefined) s.provisional = true;
    else delete s.provisional;
    this.#emit("add", s, { from, by: "rename" });
  }

  /** A hook registered an invocation of `fn` in `pid`: settle a temporary key, or report a disagreeing one. */
  async #claim(fn: string, pid: number): Promise<void> {
    let id = this.#pidOwner.get(pid);
    if (id === undefined || !this.#known.has(id)) {
      let text: string;
      try {
        text = await readFile(`/proc/${pid}/cgroup`, "utf8");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return; // already gone
        throw err;
      }
      const v2 = parseProcCgroups(text).v2;
      if (v2 === undefined) return;
      const dir = join(this.#mount, v2);
      const owner = [...this.#known.values()].find(
        (k) => dir === k.cgroupPath || dir.startsWith(`${k.cgroupPath}/`),
      );
      if (owner === undefined) return; // not in a container of ours
      id = owner.id;
      this.#pidOwner.set(pid, id);
    }
    const s = this.#known.get(id);
    if (s === undefined || s.fn === fn) return;
    if (s.provisional) {
      const from = s.fn;
      s.fn = fn;
      delete s.provisional;
      this.#emit("add", s, { from, by: "activation" });
    } else if (!s.mismatchReported) {
      s.mismatchReported = true;
      this.#onError(
        new Error(
          `container ${s.name}: a hook registered function ${JSON.stringify(fn)}, the container name says ${JSON.stringify(s.fn)}; ` +
            "its bursts stay under the name's key (hooks must use the same key, see docs/platforms.md)",
        ),
      );
    }
  }

  /** Brings the known set in line with what Docker runs now (at start and after a lost stream). */
  async #resync(): Promise<void> {
    const listed = await this.#invokerContainers();
    const live = new Set(listed.map((c) => c.id));
    for (const id of [...this.#known.keys()]) if (!live.has(id)) this.#remove(id);
    for (const id of [...this.#refused.keys()]) if (!live.has(id)) this.#refused.delete(id);
    const described: Described[] = [];
    for (const { id, name } of listed) {
      // A declared container is not re-read (its cgroup does not change while
      // it runs), but a rename missed while the stream was down is applied.
      const known = this.#known.get(id);
      if (known && known.name !== name) await this.#rename(id, name);
      const d = known ? { kind: "sandbox" as const, known } : await this.#describe(id);
      if (d) described.push(d);
    }
    const { known, refused } = this.#separate(described);
    for (const r of refused) {
      if (this.#known.has(r.id)) this.#remove(r.id);
      this.#refuse(r);
    }
    for (const k of known) {
      if (this.#known.has(k.id)) continue;
      this.#known.set(k.id, k);
      this.#emit("add", k);
    }
  }

  /** The running containers named like an invoker's, with that name (no leading "/"). */
  async #invokerContainers(): Promise<{ id: string; name: string }[]> {
    const found: { id: string; name: string }[] = [];
    for (const c of await this.#docker.listContainers()) {
      const name = c.Names.find((n) => parseInvokerContainerName(n));
      if (name !== undefined) found.push({ id: c.Id, name: name.replace(/^\//, "") });
    }
    return found;
  }

  #onEvent(e: DockerEvent): void {
    if (e.Type !== "container") return;
    const id = e.Actor.ID;
    const name = e.Actor.Attributes?.name;
    if (e.Action === "rename") {
      if (name !== undefined) void this.#enqueue(() => this.#rename(id, name));
      return;
    }
    if (e.Action === "die") {
      void this.#enqueue(async () => this.#remove(id));
      return;
    }
    if (name !== undefined && !parseInvokerContainerName(name)) return;
    if (e.Action === "start") void this.#enqueue(() => this.#add(id));
  }

  /** Keeps an event stream open until aborted; a lost stream is reported, re-opened and followed by a resync. */
  #follow(signal: AbortSignal): { connected: Promise<void>; done: Promise<void> } {
    const filters = { type: ["container"], event: ["start", "die", "rename"] };
    let markConnected: () => void = () => {};
    let failConnect: (err: unknown) => void = () => {};
    const connected = new Promise<void>((resolve, reject) => {
      markConnected = resolve;
      failConnect = reject;
    });
    const done = (async () => {
      let first = true;
      while (!signal.aborted) {
        try {
          const stream = this.#docker.streamEvents(
            filters,
            (e) => this.#onEvent(e),
            signal,
            () => {
              if (first) markConnected();
              else void this.#enqueue(() => this.#resync());
              first = false;
            },
          );
          await stream;
          if (signal.aborted) break;
          this.#onError(new Error("docker event stream ended; reconnecting"));
        } catch (err) {
          if (first) {
            failConnect(err);
            return;
          }
          if (signal.aborted) break;
          this.#onError(err instanceof Error ? err : new Error(String(err)));
        }
        await new Promise<void>((r) => setTimeout(r, this.#reconnectMs).unref());
      }
    })();
    return { connected, done };
  }
}

/** Whether directory `dir` (possibly undefined) is `cgroup` or below it. */
function within(dir: string | undefined, cgroup: string): boolean {
  return dir !== undefined && (dir === cgroup || dir.startsWith(`${cgroup}/`));
}

function sharedRefusal(k: Known): RefusedSandbox {
  return {
    id: k.id,
    name: k.name,
    problem: "shared-cgroup",
    cgroupPath: k.cgroupPath,
    namedInV1: [],
    detail: `its cgroup ${k.cgroupPath} holds another container's init too`,
  };
}
