/**
 * `--socket-group` is checked before the daemon starts: every directory on
 * the socket's path must be searchable by the group, or the daemon refuses
 * with the directory and the fix. The shipped systemd unit's runtime
 * directory mode passes the check.
 */
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { UsageError } from "../../../src/errors.js";
import { checkSocketGroupReach, resolveGid } from "../../../src/frontend/api/socket-group.js";
import { isRoot, requireHost } from "../../helpers/host.js";

const root = mkdtempSync(join(tmpdir(), "alps-socket-group-"));
chmodSync(root, 0o755);
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A directory under `root` with `mode`. */
function dir(name: string, mode: number): string {
  const d = join(root, name);
  mkdirSync(d);
  chmodSync(d, mode);
  return d;
}

describe("checkSocketGroupReach", () => {
  it("refuses a 0700 directory, naming it, its mode and the fix", () => {
    const d = dir("private", 0o700);
    const check = () => checkSocketGroupReach(join(d, "alps.sock"), "65534");
    expect(check).toThrow(UsageError);
    expect(check).toThrow(`${d} is mode 0700`);
    expect(check).toThrow(/RuntimeDirectoryMode=0711/);
    expect(check).toThrow(/members of group 65534 \(gid 65534\) cannot reach/);
  });

  it("accepts a directory others may search", () => {
    expect(() =>
      checkSocketGroupReach(join(dir("searchable", 0o711), "alps.sock"), "65534"),
    ).not.toThrow();
  });

  // chown to another group needs root (unit tests may run without it).
  it.skipIf(!requireHost("root, to change socket owners and groups", isRoot()))(
    "accepts a directory the group may search, refuses it for another group",
    () => {
      const grouped = dir("grouped", 0o710);
      chownSync(grouped, 0, 65534);
      expect(() => checkSocketGroupReach(join(grouped, "alps.sock"), "65534")).not.toThrow();
      chownSync(grouped, 0, 0);
      expect(() => checkSocketGroupReach(join(grouped, "alps.sock"), "65534")).toThrow(UsageError);
    },
  );

  it("checks every directory on the way, not only the last", () => {
    const outer = dir("outer", 0o700);
    const inner = join(outer, "inner");
    mkdirSync(inner, { mode: 0o755 });
    expect(() => checkSocketGroupReach(join(inner, "alps.sock"), "65534")).toThrow(
      `${outer} is mode 0700`,
    );
  });

  it("judges a directory the daemon will create by the mode it will get", () => {
    const parent = dir("parent", 0o755);
    expect(() =>
      checkSocketGroupReach(join(parent, "new", "alps.sock"), "65534", 0o755),
    ).not.toThrow();
    expect(() => checkSocketGroupReach(join(parent, "new", "alps.sock"), "65534", 0o700)).toThrow(
      `${join(parent, "new")} is mode 0700`,
    );
  });

  it("an unknown group is a usage error naming it", () => {
    expect(() => resolveGid("alps-no-such-group")).toThrow(UsageError);
    expect(() => resolveGid("alps-no-such-group")).toThrow(/--socket-group alps-no-such-group/);
    expect(resolveGid("123")).toBe(123);
  });

  it("the shipped systemd unit's runtime directories let the group reach both socket paths", () => {
    const unit = readFileSync(join(import.meta.dirname, "../../../deploy/alps.service"), "utf8");
    const mode = /^RuntimeDirectoryMode=([0-7]+)$/m.exec(unit)?.[1];
    const dirs = /^RuntimeDirectory=(.+)$/m.exec(unit)?.[1]?.split(/\s+/) ?? [];
    expect(mode).toBeDefined();
    expect(dirs).toEqual(["alps", "alps/api"]);
    // As systemd lays them out under /run, here under a stand-in for it.
    const run = dir("run", 0o755);
    for (const d of dirs) {
      mkdirSync(join(run, d));
      chmodSync(join(run, d), Number.parseInt(mode as string, 8));
    }
    // The default socket, and the one platforms bind-mount into containers.
    for (const socket of ["alps/alps.sock", "alps/api/alps.sock"])
      expect(() => checkSocketGroupReach(join(run, socket), "65534")).not.toThrow();
  });
});
