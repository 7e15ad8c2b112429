/**
 * Function ids in the BPF maps are given back once nothing refers to the
 * function: not the policy, no sandbox, no open invocation, no tracked task.
 * The window forgets functions unseen for a while, so a daemon that runs for
 * weeks sees far more than ALPS_MAX_FNS - 1 functions; each one that is
 * current still gets its own policy entry instead of the default.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addonSyscalls } from "../../src/host/addon.js";
import { ALPS_MAX_FNS } from "../../src/host/addon-types.js";
import { type BpfBackend, createBpfBackend } from "../../src/backend/bpf/bpf-backend.js";
import { emptyPolicy, type Policy } from "../../src/contracts/policy.js";
import { bpfHost, cleanupChild, procSched } from "./bpf-kit.js";

const { loaded, ready } = bpfHost();

function policyOf(names: readonly string[]): Policy {
  const entry = { priority: 1, predicted_ms: 20, slice_ms: 20 };
  return { ...emptyPolicy(), functions: Object.fromEntries(names.map((fn) => [fn, entry])) };
}

/** As many function names as the policy map holds, with a prefix. */
const fullMap = (prefix: string): string[] =>
  Array.from({ length: ALPS_MAX_FNS - 1 }, (_, i) => `${prefix}${i}`);

describe.skipIf(!ready)("BPF function ids", () => {
  let backend: BpfBackend;
  const syscalls = loaded.ok ? addonSyscalls(loaded.addon) : undefined;

  beforeAll(async () => {
    backend = await createBpfBackend({ strategy: "dynamic" });
  });
  afterAll(async () => {
    await backend?.close();
  });

  it("a full map's worth of new functions takes the ids the old ones gave back, none overflows", () => {
    backend.applyPolicy(policyOf(fullMap("a")));
    expect(backend.fnId("a0")).toBeGreaterThan(0);
    backend.applyPolicy(policyOf(fullMap("b")));
    expect(backend.status().counters.nr_fn_overflow).toBe(0);
    expect(backend.fnId("a0")).toBeUndefined();
    const ids = new Set(fullMap("b").map((fn) => backend.fnId(fn)));
    expect(ids.has(0)).toBe(false);
    expect(ids.size).toBe(ALPS_MAX_FNS - 1);
  });

  it("keeps the id of a function with an open invocation until it ends", async () => {
    let sleeper: ChildProcess | undefined;
    try {
      sleeper = spawn("sleep", ["5"], { stdio: "ignore" });
      const pid = sleeper.pid as number;
      await new Promise((r) => setTimeout(r, 20));
      backend.applyPolicy(policyOf(["held"]));
      backend.startInvocation("held", pid);
      const id = backend.fnId("held");
      expect(id).toBeGreaterThan(0);
      // A policy without it: the open invocation still holds the id.
      backend.applyPolicy(policyOf(["other"]));
      expect(backend.fnId("held")).toBe(id);
      expect(backend.taskState(pid)?.fn).toBe(id);
      backend.endInvocation(pid);
      expect(procSched(pid)).toEqual({ nice: 0, policy: 0 });
      // Now nothing refers to it: the next policy gives the id back.
      backend.applyPolicy(policyOf(["other"]));
      expect(backend.fnId("held")).toBeUndefined();
    } finally {
      if (syscalls) cleanupChild(sleeper, syscalls);
    }
  });
});
