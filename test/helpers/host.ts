/**
 * What the real-kernel tests need of the host. Locally a missing capability
 * skips the test with the reason; in CI (`CI` set) it fails loudly instead,
 * because CI runs as root on a kernel that has all of them.
 */
import { readFileSync } from "node:fs";

export function isRoot(): boolean {
  return typeof process.getuid === "function" && process.getuid() === 0;
}

export function hasBtf(): boolean {
  try {
    readFileSync("/sys/kernel/btf/vmlinux", { flag: "r" }).subarray(0, 4);
    return true;
  } catch {
    return false;
  }
}

/**
 * Returns true when the test may run. When it may not: throws in CI, returns
 * false locally (use with `it.skipIf(!requireHost(...))` or `describe.skipIf`).
 */
export function requireHost(what: string, available: boolean): boolean {
  if (available) return true;
  if (process.env.CI) throw new Error(`CI needs ${what} on this host, and it is missing`);
  return false;
}
