/**
 * One backend per mode, and the choice `--mode auto` makes: alps with the
 * BPF sensor when the BPF programs load, sfs otherwise. Every step down is
 * logged and returned in `reasons` (safety invariant 5, docs/safety.md: no silent
 * fallback); the daemon shows them in `/v1/status` and its metrics.
 */
import type { SliceRequest, Strategy } from "../contracts/levels.js";
import { UsageError } from "../errors.js";
import { createAlpsProcBackend } from "./proc/alps-proc-backend.js";
import { createBpfBackend } from "./bpf/bpf-backend.js";
import { probeBpf } from "./bpf/bpf-probe.js";
import { createCfsBackend } from "./proc/cfs-backend.js";
import { createSfsBackend, type SfsOptions } from "./sfs/sfs-backend.js";
import { loadSyscalls } from "../host/syscalls.js";
import type { TouchedRecorder } from "./guardian/touched-types.js";
import type { Backend, Mode } from "./types.js";

export interface CreateBackendOptions {
  mode: "auto" | Mode;
  /** alps only: where task CPU time comes from. Default bpf. */
  sensor?: "bpf" | "proc";
  strategy?: Strategy;
  /** `--no-bpf`: BPF counts as unavailable (as ALPS_NO_BPF=1 does). */
  noBpf?: boolean;
  touched?: TouchedRecorder;
  log?: (message: string) => void;
  /** alps: the EEVDF slice a boost also asks for. */
  sliceRequest?: SliceRequest;
  /** alps: the EEVDF slice open invocations not boosted ask for, ns (0: none). */
  unboostedSliceNs?: bigint;
  /** alps, strategy dynamic: yields at or above this level run under SCHED_IDLE. */
  idleFrom?: number;
  /** alps, strategy dynamic: yields end this many predicted runs after an invocation starts (0: never). */
  yieldBound?: number;
  /** alps, strategy dynamic: nice levels between the levels used. */
  levelStep?: number;
  /** SFS tuning (slots, slice, overload). */
  sfs?: Omit<SfsOptions, "syscalls" | "touched" | "log" | "reasons">;
}

/** Why BPF cannot be used, or undefined when it can. */
function bpfUnavailable(noBpf: boolean | undefined): string | undefined {
  if (noBpf === true) return "BPF disabled by --no-bpf or ALPS_NO_BPF=1";
  const probe = probeBpf();
  return probe.ok ? undefined : probe.reason;
}

/** Why the BPF sensor will not be used: the proc sensor was asked for, or BPF is unavailable. */
function bpfSensorUnavailable(opts: CreateBackendOptions): string | undefined {
  return opts.sensor === "proc" ? "--sensor proc asked for" : bpfUnavailable(opts.noBpf);
}

export async function createBackend(
  opts: CreateBackendOptions,
): Promise<{ backend: Backend; reasons: string[] }> {
  const reasons: string[] = [];
  const log = opts.log ?? (() => {});
  const say = (reason: string): void => {
    reasons.push(reason);
    log(reason);
  };
  const touched = opts.touched === undefined ? {} : { touched: opts.touched };
  const strategy = opts.strategy ?? "dynamic";
  const sliceRequest = opts.sliceRequest ?? "off";
  const unboostedSliceNs = opts.unboostedSliceNs ?? 0n;
  // The yield bound and the level step travel with idleFrom: all shape strategy dynamic's levels.
  const idleFrom = {
    ...(opts.idleFrom === undefined ? {} : { idleFrom: opts.idleFrom }),
    ...(opts.yieldBound === undefined ? {} : { yieldBound: opts.yieldBound }),
    ...(opts.levelStep === undefined ? {} : { levelStep: opts.levelStep }),
  };

  let mode: Mode;
  if (opts.mode === "auto") {
    const why = bpfSensorUnavailable(opts);
    if (why === undefined) {
      mode = "alps";
      say("mode auto: BPF programs load here, running alps with the BPF sensor");
    } else if (opts.sensor === "proc") {
      mode = "alps";
      say("mode auto with --sensor proc: running alps on the proc sensor");
    } else {
      mode = "sfs";
      say(`mode auto: alps (BPF sensor) unavailable: ${why}; falling back to sfs`);
    }
  } else {
    mode = opts.mode;
    say(`mode ${mode} asked for`);
  }

  if (mode === "cfs") {
    // Observed the way alps observes where BPF is there: polling /proc for
    // every worker thread would cost CFS CPU that alps does not pay, and
    // the replay compares the two.
    const why = bpfSensorUnavailable(opts);
    if (why === undefined) {
      const backend = await createBpfBackend({ strategy, ...touched, log, observeOnly: true });
      return { backend, reasons: [...reasons, ...backend.status().reasons] };
    }
    say(`cfs: observing with the proc sensor (BPF sensor unavailable: ${why})`);
    return { backend: createCfsBackend({ reasons }), reasons };
  }

  if (mode === "alps" && opts.sensor !== "proc") {
    const why = bpfUnavailable(opts.noBpf);
    if (why !== undefined) {
      throw new UsageError(
        `alps mode with the BPF sensor is unavailable: ${why} (use --sensor proc, or --mode sfs/auto)`,
      );
    }
    const backend = await createBpfBackend({
      strategy,
      ...touched,
      log,
      sliceRequest,
      unboostedSliceNs,
      ...idleFrom,
    });
    return { backend, reasons };
  }

  const { syscalls, reason } = loadSyscalls();
  if (reason !== undefined) say(`syscalls: ${reason}`);
  if (mode === "alps") {
    const backend = createAlpsProcBackend({
      syscalls,
      strategy,
      ...touched,
      log,
      reasons,
      sliceRequest,
      unboostedSliceNs,
      ...idleFrom,
    });
    return { backend, reasons };
  }
  const backend = createSfsBackend({ ...(opts.sfs ?? {}), syscalls, ...touched, log, reasons });
  return { backend, reasons };
}
