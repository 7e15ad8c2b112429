/**
 * What an OpenWhisk invoker's container name says, and nothing more.
 *
 * The invoker (ContainerProxy.containerName and its twin in
 * FunctionPullingContainerProxy, apache/openwhisk) names a container
 * `<prefix>_<seq>_<first>_<second>`:
 *   - prefix: "wsk" + the invoker's unique name + its number, keeping
 *     letters, digits and `_ . -` (ContainerFactory.containerNamePrefix), so
 *     it ends in a digit and may itself hold `_`;
 *   - seq: a per-invoker counter;
 *   - first/second: for a stem cell "prewarm" and the runtime kind, else the
 *     action's namespace path (FPC: the action's own, package included, `/`
 *     dropped; ContainerProxy: the caller's namespace) and the action name,
 *     each reduced to letters, digits and `_`.
 * The last two are joined by `_`, which they may hold themselves, so they
 * cannot be split back reliably: the function key is the whole remainder
 * after `<seq>_`, taken as opaque. Names the invoker's own cleaning makes
 * equal (`my-fn` and `myfn`) share a key; docs/platforms.md lists them.
 */

export interface InvokerContainerName {
  /** "wsk" + unique name + instance number, as the invoker cleaned it. */
  prefix: string;
  seq: number;
  /** Everything after `<seq>_`: the function key (or the stem cell's temporary key). */
  key: string;
  /** For a stem cell (`prewarm_<kind>`), the runtime kind as cleaned ("nodejs20"). */
  prewarmKind?: string;
}

// The prefix is matched lazily up to the first "<digit>_<digits>_": an
// invoker unique name holding "_<digits>_" itself stays ambiguous (documented).
const NAME = /^\/?(wsk[A-Za-z0-9_.-]*?[0-9])_([0-9]+)_([A-Za-z0-9_]+_[A-Za-z0-9_]+)$/;

const PREWARM = "prewarm_";

/** Parses an invoker container name; undefined for any other container. */
export function parseInvokerContainerName(name: string): InvokerContainerName | undefined {
  const m = NAME.exec(name);
  if (!m || m[1] === undefined || m[2] === undefined || m[3] === undefined) return undefined;
  const key = m[3];
  const parsed: InvokerContainerName = { prefix: m[1], seq: Number(m[2]), key };
  if (key.startsWith(PREWARM) && key.length > PREWARM.length) {
    parsed.prewarmKind = key.slice(PREWARM.length);
  }
  return parsed;
}
