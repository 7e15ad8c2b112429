/** Bodies of the control API (docs/api.md), validated with zod; unknown fields are refused. */
import { z } from "zod";

/** A function's name: 1 to FUNCTION_NAME_MAX of these characters (the line protocol's fast path checks the same). */
export const FUNCTION_NAME_CHARS = /^[A-Za-z0-9_.:@/-]+$/;
export const FUNCTION_NAME_MAX = 255;
/** The largest pid Linux hands out (PID_MAX_LIMIT on 64-bit). */
export const MAX_PID = 4_194_304;

const FunctionName = z
  .string()
  .min(1)
  .max(FUNCTION_NAME_MAX)
  .regex(FUNCTION_NAME_CHARS, "function names use letters, digits and _ . : @ / -");

export const SandboxBody = z.strictObject({
  function: FunctionName,
  /** Absolute cgroup v2 directory of the sandbox. */
  cgroup: z
    .string()
    .min(1)
    .max(4096)
    .refine(
      (p) => p.startsWith("/") && !p.split("/").includes(".."),
      "an absolute path without '..'",
    ),
});

export const InvocationBody = z.strictObject({
  function: FunctionName,
  /**
   * The task the invocation runs in, as the daemon's pid namespace numbers
   * it. Omitted: the caller itself, from the socket's peer credentials, so
   * a hook inside a container's pid namespace registers its own process.
   */
  pid: z.number().int().min(1).max(MAX_PID).optional(),
  /**
   * The task is stopped and waits for its invocation: the daemon continues
   * it (SIGCONT) once its level is in place and the answer is written,
   * which spares the platform its own wake-up and signal. Only for a task
   * the caller could signal itself (routes.ts).
   */
  resume: z.boolean().optional(),
});

export const EndBody = z.strictObject({
  /** CPU the invocation used, when the client measured it (e.g. `alps invoke`). */
  cpu_ms: z.number().finite().nonnegative().max(86_400_000).optional(),
  exit_code: z.number().int().optional(),
});

export type SandboxRequest = z.infer<typeof SandboxBody>;
export type InvocationRequest = z.infer<typeof InvocationBody>;
export type EndRequest = z.infer<typeof EndBody>;
