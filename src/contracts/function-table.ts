/**
 * Objects keyed by function names (a policy's `functions`, the learner's
 * output). A function is named whatever its platform names it, so a name may
 * be "__proto__", "constructor" or "toString". On a plain `{}` the first one,
 * assigned, replaces the object's prototype instead of adding an entry, and
 * the others, read, find Object.prototype's members. A table here has no
 * prototype, and lookups go through own properties only.
 *
 * Free of zod on purpose: the simulator imports it, and must not pay for
 * loading the schema library at CLI start-up.
 */

/** An empty table whose every key, "__proto__" included, is an ordinary entry. */
export function functionTable<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** `fn`'s own entry in `table`, never something inherited from Object.prototype. */
export function ownEntry<T>(table: Readonly<Record<string, T>>, fn: string): T | undefined {
  return Object.hasOwn(table, fn) ? table[fn] : undefined;
}
