/**
 * The repository makes sense with nothing beside it (issue 17 must-show):
 * no file under README.md, docs/ or src/ points at a design document outside
 * the repository ("../shared/docs", "DESIGN §"); the contracts it points to
 * instead are here.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../..");

function files(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path).flatMap((f) => files(join(path, f)));
}

describe("the repository stands alone", () => {
  it("README.md, docs/ and src/ never point at a design document outside it", () => {
    const hits: string[] = [];
    for (const file of ["README.md", "docs", "src"].flatMap((p) => files(join(ROOT, p)))) {
      readFileSync(file, "utf8")
        .split("\n")
        .forEach((line, i) => {
          if (/shared\/docs|DESIGN §/.test(line))
            hits.push(`${relative(ROOT, file)}:${i + 1}: ${line}`);
        });
    }
    expect(hits).toEqual([]);
  });

  it("the contracts are documented here", () => {
    const api = readFileSync(join(ROOT, "docs/api.md"), "utf8");
    for (const route of [
      "POST /v1/sandboxes",
      "POST /v1/invocations",
      "POST /v1/invocations/{id}/end",
      "GET /v1/policy",
      "GET /v1/status",
    ])
      expect(api, route).toContain(route);
    const formats = readFileSync(join(ROOT, "docs/formats.md"), "utf8");
    for (const heading of ["## Native trace CSV", "## Policy JSON", "## Summary object"])
      expect(formats, heading).toContain(heading);
  });

  it("docs/api.md lists every refusal reason the server can give", () => {
    const server = readFileSync(join(ROOT, "src/frontend/api/routes.ts"), "utf8");
    const union = /export type RefusalReason =([^;]+);/.exec(server)?.[1] ?? "";
    const reasons = [...union.matchAll(/"([a-z_]+)"/g)].map((m) => m[1] as string);
    expect(reasons.length).toBeGreaterThan(5);
    const api = readFileSync(join(ROOT, "docs/api.md"), "utf8");
    for (const reason of reasons) expect(api, reason).toContain(`\`${reason}\``);
  });
});
