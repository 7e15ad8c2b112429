/**
 * `--policy-file`: a policy JSON (or YAML) applied as is. Validated with the
 * shared PolicySchema; an error names the file, the line and the field path.
 */
import { readFileSync } from "node:fs";
import { LineCounter, parseDocument } from "yaml";
import { type Policy, PolicySchema } from "../contracts/policy.js";
import { InputError } from "../errors.js";

export function parsePolicyText(text: string, file: string): Policy {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  const parseError = doc.errors[0];
  if (parseError !== undefined) {
    throw new InputError(
      file,
      parseError.linePos?.[0]?.line,
      undefined,
      `not valid JSON: ${parseError.message.split("\n")[0]}`,
    );
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new InputError(
      file,
      undefined,
      undefined,
      `cannot read policy: ${(error as Error).message}`,
    );
  }
  const result = PolicySchema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = (issue?.path ?? []) as (string | number)[];
  const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
  const line = node?.range !== undefined ? lineCounter.linePos(node.range[0]).line : undefined;
  throw new InputError(file, line, path.join(".") || undefined, issue?.message ?? "invalid policy");
}

export function readPolicyFile(file: string): Policy {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new InputError(
      file,
      undefined,
      undefined,
      `cannot read policy file: ${(error as Error).message}`,
    );
  }
  return parsePolicyText(text, file);
}
