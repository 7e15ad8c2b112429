import { describe, expect, it } from "vitest";
import { UsageError } from "../../../src/errors.js";
import { matchSegment, parseCgroupPattern } from "../../../src/frontend/platforms/pattern.js";

describe("cgroup pattern syntax", () => {
  it("splits the literal root from the segments and captures the function", () => {
    const p = parseCgroupPattern("/sys/fs/cgroup/kubepods.slice/*/{function}/*");
    expect(p.root).toBe("/sys/fs/cgroup/kubepods.slice");
    expect(p.segments.map((s) => [s.text, s.captures])).toEqual([
      ["*", false],
      ["{function}", true],
      ["*", false],
    ]);
    const fnSeg = p.segments[1];
    if (!fnSeg) throw new Error("no segment");
    expect(matchSegment(fnSeg, "resize")).toBe("resize");
  });

  it("supports globs and literals around {function} inside a segment", () => {
    const p = parseCgroupPattern("/sys/fs/cgroup/system.slice/fn-{function}.scope");
    const [seg] = p.segments;
    if (!seg) throw new Error("no segment");
    expect(matchSegment(seg, "fn-thumb.scope")).toBe("thumb");
    expect(matchSegment(seg, "fn-.scope")).toBeUndefined();
    expect(matchSegment(seg, "other.scope")).toBeUndefined();
    const g = parseCgroupPattern("/c/docker-*.scope/{function}").segments[0];
    if (!g) throw new Error("no segment");
    expect(matchSegment(g, "docker-abc.scope")).toBe("");
    expect(matchSegment(g, "docker-abc.scopeX")).toBeUndefined();
    // Regex metacharacters in literals are literal.
    const dot = parseCgroupPattern("/c/*/a.b/{function}").segments[1];
    if (!dot) throw new Error("no segment");
    expect(matchSegment(dot, "aXb")).toBeUndefined();
  });

  it.each([
    ["relative/{function}", /absolute/],
    ["/sys/fs/cgroup/*", /no \{function\}/],
    ["/a/{function}/{function}", /more than one/],
    ["/a/{function}*", /mixes/],
    ["/a//{function}", /empty segment/],
    ["/a/../{function}", /not allowed/],
    ["/a/{fn}", /brace/],
  ])("rejects %s with a UsageError naming the problem", (pattern, why) => {
    expect(() => parseCgroupPattern(pattern)).toThrow(UsageError);
    expect(() => parseCgroupPattern(pattern)).toThrow(why);
  });
});
