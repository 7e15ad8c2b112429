/**
 * OpenWhisk adapter: the invoker's action containers, read from Docker.
 *
 * Matched against apache/openwhisk on GitHub (master):
 *   - core/invoker/.../containerpool/ContainerProxy.scala, containerName():
 *     s"${ContainerFactory.containerNamePrefix(instance)}_${containerCount.next()}_${sanitizedPrefix}_${sanitizedSuffix}"
 *     where prefix is the user's namespace and suffix the action name, both
 *     filtered to letters, digits and '_'; prewarmed stem cells use prefix
 *     "prewarm" and suffix the runtime kind.
 *   - common/scala/.../containerpool/ContainerFactory.scala, containerNamePrefix():
 *     s"wsk${instanceId.uniqueName.getOrElse("")}${instanceId.toInt}"
 * So names look like "wsk0_12_guest_hello". The namespace/action split is
 * ambiguous when the namespace itself holds '_' (e.g. "BobsOrg_dev"): the
 * operator may list namespaces (`namespaces`), otherwise the first '_' splits.
 * Prewarm containers run no function until OpenWhisk hands them an action,
 * and keep their name then, so they are not declared (a known gap).
 *
 * Each container's cgroup v2 directory is the one of its init process
 * (State.Pid) in /proc/<pid>/cgroup, which holds whatever the cgroup driver
 * (cgroupfs or systemd, with or without HostConfig.CgroupParent) made.
 */
import { cgroupDirOfPid } from "../../host/cgroups.js";
import { DEFAULT_DOCKER_SOCKET, DockerClient, type DockerEvent } from "./docker-api.js";
import type {
  AdapterErrorListener,
  PlatformAdapter,
  PlatformSource,
  SandboxEvent,
  SandboxInfo,
} from "./types.js";

export interface OpenWhiskOptions {
  dockerSocket?: string;
  /** Known namespaces, to split "<namespace>_<action>" when a namespace holds '_'. */
  namespaces?: string[];
  /** Cgroup v2 mount (default: from mountinfo). */
  cgroupMount?: string;
  /** Wait before re-opening a lost event stream. */
  reconnectMs?: number;
  onError?: AdapterErrorListener;
}

export interface ActionContainerName {
  invoker: string;
  seq: number;
  namespace: string;
  action: string;
}

/** Parses an invoker container name; undefined for any other container (or a prewarm one). */
export function parseActionContainerName(
  name: string,
  namespaces: readonly string[] = [],
): ActionContainerName | undefined {
  const m = /^\/?(wsk[A-Za-z0-9.-]*)_(\d+)_([A-Za-z0-9_]+)$/.exec(name);
  if (!m || m[1] === undefined || m[2] === undefined || m[3] === undefined) return undefined;
  const rest = m[3];
  const known = [...namespaces]
    .map((n) => n.replace(/[^A-Za-z0-9_]/g, ""))
    .sort((a, b) => b.length - a.length)
    .find((n) => n !== "" && rest.startsWith(`${n}_`) && rest.length > n.length + 1);
  let namespace: string;
  let action: string;
  if (known !== undefined) {
    namespace = known;
    action = rest.slice(known.length + 1);
  } else {
    const cut = rest.indexOf("_");
    if (cut <= 0 || cut === rest.length - 1) return undefined;
    namespace = rest.slice(0, cut);
    action = rest.slice(cut + 1);
  }
  if (namespace === "prewarm") return undefined;
  return { invoker: m[1], seq: Number(m[2]), namespace, action };
}

/** The function name alps uses for an action container. */
export function functionOf(c: ActionContainerName): string {
  return `${c.namespace}/${c.action}`;
}

export class OpenWhiskAdapter implements PlatformAdapter {
  readonly kind = "openwhisk" as const;
  readonly #docker: DockerClient;
  readonly #namespaces: string[];
  readonly #mount: string | undefined;
  readonly #reconnectMs: number;
  readonly #onError: AdapterErrorListener;
  readonly #known = new Map<string, SandboxInfo>();
  #listener: ((e: SandboxEvent) => void) | undefined;
  #abort: AbortController | undefined;
  /** Listing and events are applied one at a time, in arrival order. */
  #chain: Promise<void> = Promise.resolve();
  #streamDone: Promise<void> = Promise.resolve();

  constructor(opts: OpenWhiskOptions = {}) {
    this.#docker = new DockerClient(opts.dockerSocket ?? DEFAULT_DOCKER_SOCKET);
    this.#namespaces = opts.namespaces ?? [];
    this.#mount = opts.cgroupMount;
    this.#reconnectMs = opts.reconnectMs ?? 1000;
    this.#onError =
      opts.onError ?? ((err: Error) => console.error(`openwhisk adapter: ${err.message}`));
  }

  get source(): PlatformSource {
    return { kind: "docker-socket", path: this.#docker.socketPath };
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
    return [...this.#known.values()].map((s) => ({ ...s }));
  }

  async scan(): Promise<SandboxInfo[]> {
    const found: SandboxInfo[] = [];
    for (const id of await this.#actionContainerIds()) {
      let s: SandboxInfo | undefined;
      try {
        s = await this.#describe(id);
      } catch (err) {
        // The container's init exited between inspect and reading /proc: it is gone.
        if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
        throw err;
      }
      if (s) found.push(s);
    }
    return found;
  }

  #enqueue(step: () => Promise<void>): Promise<void> {
    const run = this.#chain.then(step);
    this.#chain = run.catch((err: unknown) =>
      this.#onError(err instanceof Error ? err : new Error(String(err))),
    );
    return run;
  }

  #emit(type: SandboxEvent["type"], s: SandboxInfo): void {
    this.#listener?.({ type, fn: s.fn, cgroupPath: s.cgroupPath, id: s.id });
  }

  /** An action container's sandbox, or undefined if it is not one or is not running. */
  async #describe(id: string): Promise<SandboxInfo | undefined> {
    const c = await this.#docker.inspect(id);
    if (c === undefined || !c.State.Running || c.State.Pid <= 0) return undefined;
    const parsed = parseActionContainerName(c.Name, this.#namespaces);
    if (!parsed) return undefined;
    const cgroupPath = await cgroupDirOfPid(c.State.Pid, this.#mount);
    return { fn: functionOf(parsed), cgroupPath, id: c.Id };
  }

  async #add(id: string): Promise<void> {
    if (this.#known.has(id)) return;
    const s = await this.#describe(id);
    if (!s || this.#known.has(id)) return;
    this.#known.set(id, s);
    this.#emit("add", s);
  }

  #remove(id: string): void {
    const s = this.#known.get(id);
    if (!s) return;
    this.#known.delete(id);
    this.#emit("remove", s);
  }

  /** Brings the known set in line with what Docker runs now (at start and after a lost stream). */
  async #resync(): Promise<void> {
    const wanted = await this.#actionContainerIds();
    const ids = new Set(wanted);
    for (const id of [...this.#known.keys()]) if (!ids.has(id)) this.#remove(id);
    for (const id of wanted) await this.#add(id);
  }

  /** Ids of the running containers named like an invoker's action containers. */
  async #actionContainerIds(): Promise<string[]> {
    const running = await this.#docker.listContainers();
    return running
      .filter((c) => c.Names.some((n) => parseActionContainerName(n, this.#namespaces)))
      .map((c) => c.Id);
  }

  #onEvent(e: DockerEvent): void {
    if (e.Type !== "container") return;
    const name = e.Actor.Attributes?.name;
    if (name !== undefined && !parseActionContainerName(name, this.#namespaces)) return;
    if (e.Action === "start") void this.#enqueue(() => this.#add(e.Actor.ID));
    else if (e.Action === "die") void this.#enqueue(async () => this.#remove(e.Actor.ID));
  }

  /** Keeps an event stream open until aborted; a lost stream is reported, re-opened and followed by a resync. */
  #follow(signal: AbortSignal): { connected: Promise<void>; done: Promise<void> } {
    const filters = { type: ["container"], event: ["start", "die"] };
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
