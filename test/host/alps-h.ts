/**
 * A reader of bpf/alps.h for tests: its #defines, enums and structs, with
 * struct layouts computed by the C rules the header relies on (natural
 * alignment of explicit-width fields, x86_64). Enough C for that one
 * disciplined header, not a C parser: a construct it does not know is an
 * error, so a change to the header cannot slip past the checks unread.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const ALPS_H = fileURLToPath(new URL("../../bpf/alps.h", import.meta.url));

export interface HeaderField {
  name: string;
  offset: number;
  size: number;
}

export interface Header {
  defines: Map<string, number>;
  /** Members in declaration order, with their values. */
  enums: Map<string, [string, number][]>;
  structs: Map<string, { size: number; fields: HeaderField[] }>;
}

const TYPE_SIZES: Record<string, number> = { __u32: 4, __s32: 4, __u64: 8, __s64: 8 };

function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/\/\/.*$/gm, "");
}

/** Integer constant expressions of the header: numbers (u suffix), + - * << and parentheses. */
function evaluate(expr: string, defines: Map<string, number>): number {
  const substituted = expr
    .replace(/\b([A-Z_][A-Z0-9_]*)\b/g, (name: string) => {
      const value = defines.get(name);
      if (value === undefined) throw new Error(`alps.h: unknown name ${name} in '${expr}'`);
      return String(value);
    })
    .replace(/\b(\d+)u\b/g, "$1");
  if (!/^[\d\s()*+\-<]+$/.test(substituted))
    throw new Error(`alps.h: not an integer constant expression: '${expr}'`);
  return Number(new Function(`return (${substituted});`)());
}

export function readHeader(text: string = readFileSync(ALPS_H, "utf8")): Header {
  const code = stripComments(text);
  const defines = new Map<string, number>();
  for (const m of code.matchAll(/^#define\s+(\w+)[ \t]+(.+)$/gm)) {
    defines.set(m[1] as string, evaluate((m[2] as string).trim(), defines));
  }
  const enums = new Map<string, [string, number][]>();
  for (const m of code.matchAll(/enum\s+(\w+)\s*\{([^}]*)\}/g)) {
    const members: [string, number][] = [];
    let next = 0;
    for (const item of (m[2] as string).split(",").map((s) => s.trim())) {
      if (item === "") continue;
      const [name, value] = item.split("=").map((s) => s.trim());
      if (name === undefined || !/^\w+$/.test(name))
        throw new Error(`alps.h: enum ${m[1]}: '${item}'`);
      next = value === undefined ? next : evaluate(value, defines);
      members.push([name, next]);
      next++;
    }
    enums.set(m[1] as string, members);
  }
  const structs = new Map<string, { size: number; fields: HeaderField[] }>();
  for (const m of code.matchAll(/struct\s+(\w+)\s*\{([^}]*)\}\s*;/g)) {
    const fields: HeaderField[] = [];
    let offset = 0;
    let align = 1;
    for (const decl of (m[2] as string)
      .split(";")
      .map((s) => s.trim())
      .filter((s) => s !== "")) {
      const f = /^(\w+)\s+(\w+)(?:\[(\w+)\])?$/.exec(decl);
      const unit = f === null ? undefined : TYPE_SIZES[f[1] as string];
      if (f === null || unit === undefined)
        throw new Error(`alps.h: struct ${m[1]}: cannot lay out '${decl}'`);
      const count = f[3] === undefined ? 1 : evaluate(f[3], defines);
      offset = Math.ceil(offset / unit) * unit;
      fields.push({ name: f[2] as string, offset, size: unit * count });
      offset += unit * count;
      align = Math.max(align, unit);
    }
    structs.set(m[1] as string, { size: Math.ceil(offset / align) * align, fields });
  }
  return { defines, enums, structs };
}
