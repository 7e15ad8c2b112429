/**
 * The three Docker Engine API calls the OpenWhisk adapter needs, over the
 * daemon's unix socket with node:http only. Field names follow the Engine
 * API reference (v1.43): ContainerSummary (GET /containers/json),
 * ContainerInspectResponse (GET /containers/{id}/json) and EventMessage
 * (GET /events, a stream of newline-delimited JSON objects).
 */
import { type IncomingMessage, request } from "node:http";

export const DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock";

export interface ContainerSummary {
  Id: string;
  Names: string[];
  State?: string;
  Status?: string;
  Labels?: Record<string, string>;
}

export interface ContainerInspect {
  Id: string;
  Name: string;
  State: { Pid: number; Status?: string; Running: boolean };
  HostConfig?: { CgroupParent?: string };
  Config?: { Labels?: Record<string, string> | null; Image?: string };
}

export interface DockerEvent {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes?: Record<string, string> };
  time?: number;
  timeNano?: number;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Why the socket could not be used, naming it, in words an operator can act on. */
function socketProblem(socketPath: string, err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case "ENOENT":
      return `docker socket ${socketPath} does not exist (is Docker running on this host? --docker-socket names another)`;
    case "ECONNREFUSED":
      return `docker socket ${socketPath} refuses connections (is Docker running?)`;
    case "EACCES":
      return `docker socket ${socketPath}: permission denied (run as root or in the socket's group)`;
    default:
      return `docker socket ${socketPath}: ${err.message}`;
  }
}

export class DockerApiError extends Error {
  override readonly name = "DockerApiError";
}

export class DockerClient {
  constructor(readonly socketPath: string = DEFAULT_DOCKER_SOCKET) {}

  #open(path: string): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = request(
        { socketPath: this.socketPath, path, method: "GET", headers: { Host: "docker" } },
        resolve,
      );
      req.on("error", (err: NodeJS.ErrnoException) =>
        reject(new DockerApiError(`${socketProblem(this.socketPath, err)} (GET ${path})`)),
      );
      req.end();
    });
  }

  async #getJson(path: string): Promise<unknown> {
    const res = await this.#open(path);
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    if (res.statusCode !== 200) {
      throw new DockerApiError(
        `docker socket ${this.socketPath}: GET ${path}: HTTP ${res.statusCode}: ${body.slice(0, 200)}`,
      );
    }
    try {
      return JSON.parse(body) as unknown;
    } catch {
      throw new DockerApiError(
        `docker socket ${this.socketPath}: GET ${path}: response is not JSON`,
      );
    }
  }

  /** Running containers (GET /containers/json). */
  async listContainers(): Promise<ContainerSummary[]> {
    const body = await this.#getJson("/containers/json");
    if (!Array.isArray(body)) throw new DockerApiError("GET /containers/json: expected an array");
    return body.filter(
      (c): c is ContainerSummary =>
        isObject(c) && typeof c.Id === "string" && Array.isArray(c.Names),
    );
  }

  /** GET /containers/{id}/json; undefined when the container no longer exists (404). */
  async inspect(id: string): Promise<ContainerInspect | undefined> {
    const path = `/containers/${encodeURIComponent(id)}/json`;
    const res = await this.#open(path);
    if (res.statusCode === 404) {
      res.resume();
      return undefined;
    }
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    if (res.statusCode !== 200) throw new DockerApiError(`GET ${path}: HTTP ${res.statusCode}`);
    const body: unknown = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    if (
      !isObject(body) ||
      typeof body.Id !== "string" ||
      !isObject(body.State) ||
      typeof body.State.Pid !== "number"
    ) {
      throw new DockerApiError(`GET ${path}: response lacks Id or State.Pid`);
    }
    return body as unknown as ContainerInspect;
  }

  /**
   * Follows GET /events with `filters` (JSON-encoded as the API wants);
   * calls onOpen once the stream is accepted, onEvent per event; resolves
   * when the stream ends. Aborting `signal` closes it.
   */
  async streamEvents(
    filters: Record<string, string[]>,
    onEvent: (e: DockerEvent) => void,
    signal: AbortSignal,
    onOpen: () => void = () => {},
  ): Promise<void> {
    const path = `/events?filters=${encodeURIComponent(JSON.stringify(filters))}`;
    const res = await this.#open(path);
    if (res.statusCode !== 200) {
      res.resume();
      throw new DockerApiError(`GET /events: HTTP ${res.statusCode}`);
    }
    if (signal.aborted) {
      // Aborted while the request was in flight: the listener below would never fire.
      res.destroy();
      return;
    }
    onOpen();
    const close = (): void => {
      res.destroy();
    };
    signal.addEventListener("abort", close, { once: true });
    let buffered = "";
    try {
      for await (const chunk of res) {
        buffered += (chunk as Buffer).toString("utf8");
        let nl = buffered.indexOf("\n");
        while (nl >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line !== "") {
            const e: unknown = JSON.parse(line);
            if (
              isObject(e) &&
              typeof e.Action === "string" &&
              isObject(e.Actor) &&
              typeof e.Actor.ID === "string"
            ) {
              onEvent(e as unknown as DockerEvent);
            }
          }
          nl = buffered.indexOf("\n");
        }
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    } finally {
      signal.removeEventListener("abort", close);
    }
  }
}
