/**
 * Measured facts the guest tests hand to the kernel matrix's summary line
 * (scripts/kernel-matrix.sh sets ALPS_KERNEL_FACTS to a file in its output
 * share). Outside the matrix the facts are only returned.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";

export function recordFact(name: string, value: string | number | boolean): void {
  const file = process.env.ALPS_KERNEL_FACTS;
  if (file === undefined || file === "") return;
  const facts: Record<string, unknown> = existsSync(file)
    ? (JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>)
    : {};
  facts[name] = value;
  writeFileSync(file, `${JSON.stringify(facts, null, 2)}\n`);
}
