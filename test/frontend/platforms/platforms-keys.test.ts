/**
 * Function keys of OpenWhisk actions, end to end on paper: for every row of
 * the key table in docs/platforms.md, the container name the invoker would
 * give (built here from the invoker's rules as read in apache/openwhisk),
 * the key the adapter parses from that name, and the key the hook client
 * computes from the activation's action_name must agree; rows sharing a key
 * must say so in the table, and no other rows may share one.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openwhiskKey } from "../../../clients/alps-hook.cjs";
import { parseInvokerContainerName } from "../../../src/frontend/platforms/openwhisk-names.js";

const DOC = join(import.meta.dirname, "../../../docs/platforms.md");

interface Row {
  line: number;
  actionName: string;
  caller: string;
  invoker: "FPC" | "ContainerProxy";
  containerName: string;
  key: string;
  collidesWith: string[];
}

function cell(s: string): string {
  return s.trim().replace(/^`|`$/g, "");
}

function tableRows(): Row[] {
  const lines = readFileSync(DOC, "utf8").split("\n");
  const begin = lines.indexOf("<!-- openwhisk-keys: begin -->");
  const end = lines.indexOf("<!-- openwhisk-keys: end -->");
  if (begin < 0 || end < begin)
    throw new Error(`${DOC}: the openwhisk-keys table markers are missing`);
  const rows: Row[] = [];
  for (let i = begin + 3; i < end; i++) {
    const cells = (lines[i] ?? "").split("|").slice(1, -1);
    if (cells.length !== 6)
      throw new Error(`${DOC}:${i + 1}: expected 6 cells, got ${cells.length}`);
    const [actionName, caller, invoker, containerName, key, collides] = cells.map(cell) as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    if (invoker !== "FPC" && invoker !== "ContainerProxy")
      throw new Error(`${DOC}:${i + 1}: invoker must be FPC or ContainerProxy`);
    rows.push({
      line: i + 1,
      actionName,
      caller,
      invoker,
      containerName,
      key,
      collidesWith: collides === "" ? [] : collides.split(",").map(cell),
    });
  }
  return rows;
}

// The invoker's rules, as read (not its code): EntityName's pattern for
// every path part (ASCII \w, then @ . & - and inner spaces), EntityPath's
// namespace joining parts with "/", and containerName() keeping what
// Character.isLetterOrDigit accepts plus '_'.
const ENTITY_NAME = /^(?:[A-Za-z0-9_]|[A-Za-z0-9_][A-Za-z0-9_@ .&-]{0,254}[A-Za-z0-9_@.&-])$/;
const keepForContainer = (s: string): string => s.replace(/[^\p{L}\p{Nd}_]/gu, "");

function invokerContainerName(row: Row, seq: number): string {
  const parts = row.actionName.split("/").filter((p) => p !== "");
  const action = parts.at(-1) ?? "";
  const first = row.invoker === "FPC" ? parts.slice(0, -1).join("/") : row.caller;
  return `wsk0_${seq}_${keepForContainer(first)}_${keepForContainer(action)}`;
}

describe("OpenWhisk function keys (the table in docs/platforms.md)", () => {
  const rows = tableRows();

  it("has rows with every character the invoker removes, and packages", () => {
    const all = rows.map((r) => r.actionName).join("");
    for (const c of ["-", "@", ".", "&", " "]) expect(all).toContain(c);
    expect(rows.some((r) => r.actionName.split("/").filter(Boolean).length === 3)).toBe(true);
  });

  it("uses only names OpenWhisk accepts", () => {
    for (const r of rows) {
      for (const part of [...r.actionName.split("/").filter(Boolean), r.caller]) {
        expect(ENTITY_NAME.test(part), `${DOC}:${r.line}: ${JSON.stringify(part)}`).toBe(true);
      }
    }
  });

  it("gives each row the container name, adapter key and hook key it lists", () => {
    for (const r of rows) {
      const seq = Number(/^wsk0_(\d+)_/.exec(r.containerName)?.[1]);
      const where = `${DOC}:${r.line}`;
      expect(invokerContainerName(r, seq), where).toBe(r.containerName);
      expect(parseInvokerContainerName(`/${r.containerName}`)?.key, where).toBe(r.key);
      const fromHook =
        r.invoker === "FPC"
          ? openwhiskKey(r.actionName)
          : openwhiskKey(r.actionName, { invoker: "containerproxy", namespace: r.caller });
      expect(fromHook, where).toBe(r.key);
    }
  });

  it("marks every shared key as a collision, both ways, and nothing else", () => {
    for (const r of rows) {
      const sharing = rows
        .filter((o) => o !== r && o.key === r.key)
        .map((o) => o.actionName)
        .sort();
      expect([...r.collidesWith].sort(), `${DOC}:${r.line} (${r.actionName})`).toEqual(sharing);
    }
  });

  it("never throws for input that is not an action name", () => {
    expect(openwhiskKey(undefined)).toBeUndefined();
    expect(openwhiskKey("hello")).toBeUndefined();
    expect(openwhiskKey("/guest/---")).toBeUndefined();
    expect(openwhiskKey("/guest/hello", { invoker: "containerproxy" })).toBeUndefined();
  });
});
