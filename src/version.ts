/**
 * The version of alps, read from package.json: the one place it is written
 * (`alps --version`, `alps_build_info`). From src/ and from dist/ alike the
 * package root is one level up.
 */
import { readFileSync } from "node:fs";

function readVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version?: unknown;
  };
  if (typeof pkg.version !== "string") throw new Error("package.json has no version");
  return pkg.version;
}

export const ALPS_VERSION: string = readVersion();
