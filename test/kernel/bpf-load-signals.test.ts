/**
 * The BPF object loads in a process that receives signals all the time.
 * The verifier gives up with EAGAIN when a signal is pending and libbpf
 * retries only a few times, so a daemon run under a sampling profiler
 * (`node --cpu-prof`: SIGPROF every interval) could not start; the addon
 * now holds signals back for the length of the load.
 *
 * A child process loads and closes the object three times from the built
 * addon (dist, as the daemon does) under `--cpu-prof` at a 100 µs interval,
 * which failed every load before.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bpfHost } from "./bpf-kit.js";

const { ready } = bpfHost();
const ROOT = join(import.meta.dirname, "../..");

const LOADER = `
const { loadAddon, bpfObjectPath } = await import(${JSON.stringify(`${ROOT}/dist/host/addon.js`)});
const loaded = loadAddon();
if (!loaded.ok) throw new Error(loaded.reason);
const errors = [];
let ok = 0;
for (let i = 0; i < 3; i++) {
  try {
    loaded.addon.openBpf(bpfObjectPath()).close();
    ok++;
  } catch (e) {
    errors.push(e.message);
  }
}
console.log(JSON.stringify({ ok, errors }));
`;

describe.skipIf(!ready)("loading the BPF object while signals arrive", () => {
  it("loads every time in a process sampled by the CPU profiler", () => {
    const dir = mkdtempSync(join(tmpdir(), "alps-bpf-signals-"));
    try {
      const child = spawnSync(
        process.execPath,
        [
          "--cpu-prof",
          "--cpu-prof-dir",
          dir,
          "--cpu-prof-interval",
          "100",
          "--input-type=module",
          "-e",
          LOADER,
        ],
        { encoding: "utf8", timeout: 60_000 },
      );
      expect(child.status).toBe(0);
      const result = JSON.parse(child.stdout.trim().split("\n").at(-1) ?? "{}") as {
        ok: number;
        errors: string[];
      };
      expect(result).toEqual({ ok: 3, errors: [] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
