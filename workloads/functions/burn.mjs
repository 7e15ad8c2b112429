/**
 * The function body every `alps replay` sandbox runs: a warm worker process
 * that, per invocation, burns exactly the asked CPU time on its own thread CPU
 * clock (CLOCK_THREAD_CPUTIME_ID), then blocks for the rest of the duration
 * when the trace says part of it was not CPU.
 *
 * Why the clock is read only about every 100 µs of work: reading a CPU-time
 * clock updates the task's runtime, and alps's BPF program runs on every such
 * update (DESIGN §5). A tight polling loop would flood it.
 *
 * Protocol (Node IPC, parent is the replay dispatcher):
 *   worker → {type: "ready", pid}
 *   parent → {type: "run", id, cpuMs, blockMs}
 *   worker → {type: "done", id, startNs, endNs, cpuMs}   (hrtime = CLOCK_MONOTONIC, shared by all processes)
 * The worker exits when its IPC channel closes, so it never outlives the replay.
 */
import { createExternalBuffer, createPointer, DataType, load, open } from "ffi-rs";

const CLOCK_THREAD_CPUTIME_ID = 3;
/** Work between two clock reads, µs of CPU. */
const CHECK_EVERY_US = 100;

open({ library: "libc", path: "" });
// One struct timespec (16 bytes), allocated once and read through a Buffer view.
const timespec = createPointer({ paramsType: [DataType.U8Array], paramsValue: [new Uint8Array(16)] });
const timespecView = createExternalBuffer(timespec[0], 16);

/** This thread's CPU time, ms. */
function threadCpuMs() {
  const rc = load({
    library: "libc",
    funcName: "clock_gettime",
    retType: DataType.I32,
    paramsType: [DataType.I32, DataType.External],
    paramsValue: [CLOCK_THREAD_CPUTIME_ID, timespec[0]],
  });
  if (rc !== 0) throw new Error("clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
  return Number(timespecView.readBigInt64LE(0)) * 1e3 + Number(timespecView.readBigInt64LE(8)) / 1e6;
}

let sink = 0;
/** Integer work that allocates nothing (no GC thread wakes up mid-burn). */
function work(iterations) {
  let x = sink | 0;
  for (let i = 0; i < iterations; i++) x = (Math.imul(x, 1103515245) + 12345 + i) | 0;
  sink = x;
}

// Iterations per check, adjusted as we go so one chunk stays near CHECK_EVERY_US.
let chunk = 2000;

function burn(cpuMs) {
  const start = threadCpuMs();
  let now = start;
  while (now - start < cpuMs) {
    const before = now;
    work(chunk);
    now = threadCpuMs();
    const tookUs = (now - before) * 1000;
    if (tookUs > 0) chunk = Math.max(100, Math.min(1_000_000, Math.round((chunk * CHECK_EVERY_US) / tookUs)));
  }
  return now - start;
}

// Warm the JIT and the chunk size before declaring readiness.
burn(5);

process.on("message", (message) => {
  if (message === null || typeof message !== "object" || message.type !== "run") return;
  const startNs = process.hrtime.bigint();
  const usedMs = burn(Number(message.cpuMs));
  const finish = () => {
    const endNs = process.hrtime.bigint();
    process.send?.({ type: "done", id: message.id, startNs: String(startNs), endNs: String(endNs), cpuMs: usedMs });
  };
  const blockMs = Number(message.blockMs);
  if (blockMs > 0) setTimeout(finish, blockMs);
  else finish();
});
process.on("disconnect", () => process.exit(0));
process.send?.({ type: "ready", pid: process.pid });
