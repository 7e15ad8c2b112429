/**
 * A local stand-in for the Docker daemon: an HTTP server on a unix socket
 * that answers the Engine API endpoints the OpenWhisk adapter uses, with
 * documents shaped like the API v1.43 reference (ContainerSummary,
 * ContainerInspectResponse, EventMessage). The containers' init pids are
 * whatever real processes the test registers.
 */
import { createServer, type Server, type ServerResponse } from "node:http";

export interface FakeContainer {
  id: string;
  name: string; // without the leading "/"
  pid: number;
  running: boolean;
  image: string;
  labels: Record<string, string>;
  cgroupParent: string;
}

export class FakeDockerEngine {
  readonly containers = new Map<string, FakeContainer>();
  readonly requests: string[] = [];
  readonly #streams = new Set<ServerResponse>();
  #server: Server | undefined;

  constructor(readonly socketPath: string) {}

  async listen(): Promise<void> {
    this.#server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://docker");
      this.requests.push(`${req.method} ${url.pathname}${url.search}`);
      const json = (status: number, body: unknown): void => {
        res.writeHead(status, { "Content-Type": "application/json", "Api-Version": "1.43" });
        res.end(JSON.stringify(body));
      };
      if (req.method !== "GET") return json(405, { message: "method not allowed" });
      if (url.pathname === "/containers/json") {
        return json(
          200,
          [...this.containers.values()].filter((c) => c.running).map((c) => this.summary(c)),
        );
      }
      const inspect = /^\/containers\/([^/]+)\/json$/.exec(url.pathname);
      if (inspect?.[1] !== undefined) {
        const c = this.containers.get(decodeURIComponent(inspect[1]));
        return c
          ? json(200, this.inspect(c))
          : json(404, { message: `No such container: ${inspect[1]}` });
      }
      if (url.pathname === "/events") {
        const filters: unknown = JSON.parse(url.searchParams.get("filters") ?? "{}");
        res.writeHead(200, { "Content-Type": "application/json", "Api-Version": "1.43" });
        res.flushHeaders();
        (res as ServerResponse & { filters?: unknown }).filters = filters;
        this.#streams.add(res);
        res.on("close", () => this.#streams.delete(res));
        return;
      }
      return json(404, { message: "page not found" });
    });
    await new Promise<void>((resolve) => this.#server?.listen(this.socketPath, resolve));
  }

  summary(c: FakeContainer): unknown {
    return {
      Id: c.id,
      Names: [`/${c.name}`],
      Image: c.image,
      ImageID: `sha256:${"ab".repeat(32)}`,
      Command: "/bin/sh -c 'cd actionProxy && python -u actionproxy.py'",
      Created: 1_700_000_000,
      Ports: [],
      Labels: c.labels,
      State: c.running ? "running" : "exited",
      Status: c.running ? "Up 3 seconds" : "Exited (137) 1 second ago",
      HostConfig: { NetworkMode: "bridge" },
      NetworkSettings: { Networks: {} },
      Mounts: [],
    };
  }

  inspect(c: FakeContainer): unknown {
    return {
      Id: c.id,
      Created: "2026-11-23T09:00:00.000000000Z",
      Path: "/bin/sh",
      Args: ["-c", "cd actionProxy && python -u actionproxy.py"],
      State: {
        Status: c.running ? "running" : "exited",
        Running: c.running,
        Paused: false,
        Restarting: false,
        OOMKilled: false,
        Dead: false,
        Pid: c.running ? c.pid : 0,
        ExitCode: c.running ? 0 : 137,
        Error: "",
        StartedAt: "2026-11-23T09:00:00.100000000Z",
        FinishedAt: "0001-01-01T00:00:00Z",
      },
      Image: `sha256:${"ab".repeat(32)}`,
      Name: `/${c.name}`,
      RestartCount: 0,
      Driver: "overlay2",
      Platform: "linux",
      HostConfig: {
        CgroupParent: c.cgroupParent,
        NetworkMode: "bridge",
        CpuShares: 0,
        Memory: 268435456,
      },
      Config: { Hostname: c.id.slice(0, 12), Image: c.image, Labels: c.labels, Cmd: null },
    };
  }

  /**
   * Renames a container as `docker rename` does: the name changes, and the
   * "rename" event carries the new name and the old one (with its "/").
   */
  rename(c: FakeContainer, newName: string): void {
    const oldName = `/${c.name}`;
    c.name = newName;
    this.emit("rename", c, { oldName });
  }

  /** Sends an EventMessage to every open /events stream whose filters let it through. */
  emit(
    action: "start" | "die" | "rename",
    c: FakeContainer,
    extra: Record<string, string> = {},
  ): void {
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const attributes: Record<string, string> = {
      ...c.labels,
      image: c.image,
      name: c.name,
      ...extra,
    };
    if (action === "die") attributes.exitCode = "137";
    const msg = {
      status: action,
      id: c.id,
      from: c.image,
      Type: "container",
      Action: action,
      Actor: { ID: c.id, Attributes: attributes },
      scope: "local",
      time: Number(nowNs / 1_000_000_000n),
      timeNano: Number(nowNs),
    };
    for (const s of this.#streams) {
      // The Engine filters events server-side: a client that did not ask for an action never sees it.
      const f = (s as ServerResponse & { filters?: { event?: string[] } }).filters;
      if (f?.event !== undefined && !f.event.includes(action)) continue;
      s.write(`${JSON.stringify(msg)}\n`);
    }
  }

  /** Ends every open event stream (a docker restart, say). */
  dropStreams(): void {
    for (const s of this.#streams) s.destroy();
    this.#streams.clear();
  }

  get openStreams(): number {
    return this.#streams.size;
  }

  async close(): Promise<void> {
    this.dropStreams();
    await new Promise<void>((resolve) =>
      this.#server ? this.#server.close(() => resolve()) : resolve(),
    );
  }
}
