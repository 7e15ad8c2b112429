// The per-invocation CSVs `alps replay` writes (none.csv, alps.csv, ...),
// read as one object per row keyed by the header. Shared by the analysis
// scripts here. Their fields never hold commas or quotes (numbers, and
// function names the replay's traces keep plain), so a row is split on
// commas; a row with another number of fields is an error naming its line.
import { readFileSync } from "node:fs";

export function readReplayCsv(path) {
  const [head, ...lines] = readFileSync(path, "utf8").trim().split("\n");
  const names = head.split(",");
  return lines.map((line, i) => {
    const cells = line.split(",");
    if (cells.length !== names.length)
      throw new Error(`${path}:${i + 2}: ${cells.length} fields, the header has ${names.length}`);
    return Object.fromEntries(names.map((n, j) => [n, cells[j]]));
  });
}
