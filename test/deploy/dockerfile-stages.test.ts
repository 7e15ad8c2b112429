/**
 * The Dockerfile and scripts/image.sh stay one build: every RUN of the
 * Dockerfile is a stage of image.sh, and `image.sh all` (what CI runs on the
 * host, test/kernel/install-image.test.ts) runs the same stages in the same
 * order. The image itself cannot be built here.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../..");
const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
const script = readFileSync(join(ROOT, "scripts/image.sh"), "utf8");

/** Logical lines of the Dockerfile (continuations joined, comments dropped). */
const instructions = dockerfile
  .replace(/\\\n/g, " ")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l !== "" && !l.startsWith("#"));

describe("Dockerfile", () => {
  it("has two stages: build, then a slim runtime that takes only the build's output", () => {
    const froms = instructions.filter((l) => l.startsWith("FROM "));
    expect(froms).toEqual([
      "FROM node:20-bookworm AS build",
      "FROM node:20-bookworm-slim AS runtime",
    ]);
    const runtime = instructions.slice(instructions.indexOf(froms[1] as string));
    expect(runtime.filter((l) => l.startsWith("COPY --from="))).toEqual([
      "COPY --from=build /out /tmp/alps-out",
    ]);
    expect(runtime).toContain('ENTRYPOINT ["alps"]');
  });

  it("runs only image.sh stages, in the order image.sh all runs them", () => {
    const runs = instructions.filter((l) => l.startsWith("RUN "));
    expect(runs.length).toBe(4);
    const dockerStages = runs.map((l) => /image\.sh (\S+)/.exec(l)?.[1]);
    const all = /stage_all\(\) \{[^]*?\n\}/.exec(script)?.[0] ?? "";
    const scriptStages = [...all.matchAll(/run_stage (\S+)/g)].map((m) => m[1]);
    expect(dockerStages).toEqual(["build-deps", "build", "runtime-deps", "runtime"]);
    expect(scriptStages).toEqual(dockerStages);
  });

  it("image.sh refuses an unknown stage with its usage", () => {
    const r = spawnSync("bash", [join(ROOT, "scripts/image.sh"), "deploy"], { encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^usage: image\.sh build-deps/);
  });

  it(".dockerignore leaves out what git ignores, so COPY sees what image.sh all copies", () => {
    const ignored = readFileSync(join(ROOT, ".dockerignore"), "utf8")
      .split("\n")
      .filter((l) => l !== "" && !l.startsWith("#"));
    for (const entry of readFileSync(join(ROOT, ".gitignore"), "utf8").split("\n")) {
      if (entry === "" || entry.startsWith("#")) continue;
      expect(ignored, `.gitignore's ${entry}`).toContain(entry.replace(/\/$/, ""));
    }
  });
});
