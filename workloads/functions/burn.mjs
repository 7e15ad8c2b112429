/**
 * The function body every `alps replay` sandbox runs: a warm worker process
 * that, per invocation, burns exactly the asked CPU time on its own thread CPU
 * clock (CLOCK_THREAD_CPUTIME_ID), then blocks for the rest of the duration
 * when the trace says part of it was not CPU.
 *
 * Why the clock is read only about every 100 µs of work: reading a CPU-time
 * clock updates the task's runtime, and alps's BPF program runs on every such
 * update (docs/architecture.md). A tight polling loop would flood it.
 *
 * Protocol: newline-delimited JSON on fd 3, a socket shared with the parent
 * (the replay dispatcher):
 *   worker → {"type":"ready","pid":…}
 *   parent → {"type":"run","id":…,"cpuMs":…,"blockMs":…}
 *   worker → {"type":"done","id":…,"startNs":"…","endNs":"…","cpuMs":…,"nice":…,"policy":…}
 *   (hrtime = CLOCK_MONOTONIC, shared by all processes; nice and policy are its
 *   thread's at the invocation's first instruction)
 *
 * Why a blocking read and not Node's IPC channel: the time from the
 * dispatcher's send to the function's first instruction is part of every
 * turnaround. Through the IPC channel (epoll, the event loop, message
 * framing) it was 0.45 ms median on this host, 1/3 of a 1.35 ms function;
 * a main thread asleep in read(2) is woken by the kernel directly, 0.17 ms.
 * The worker never runs its event loop after start-up, so the rest of the
 * duration is slept with Atomics.wait rather than a timer.
 *
 * The worker exits at end of file on fd 3: when the parent closes the socket
 * or dies, so it never outlives the replay.
 */
import { readSync, writeSync } from "node:fs";
import { getPriority } from "node:os";
import { createExternalBuffer, createPointer, DataType, load, open } from "ffi-rs";

const CLOCK_THREAD_CPUTIME_ID = 3;
/** Work between two clock reads, µs of CPU. */
const CHECK_EVERY_US = 100;
/** The socket to the parent: commands in, results out. */
const CHANNEL_FD = 3;

open({ library: "libc", path: "" });
// One struct timespec (16 bytes), allocated once and read through a Buffer view.
const timespec = createPointer({ paramsType: [DataType.U8Array], paramsValue: [new Uint8Array(16)] });
const timespecView = createExternalBuffer(timespec[0], 16);

/** This thread's scheduling policy, SCHED_RESET_ON_FORK masked off. */
function ownPolicy() {
  const policy = load({ library: "libc", funcName: "sched_getscheduler", retType: DataType.I32, paramsType: [DataType.I32], paramsValue: [0] });
  return policy & ~0x40000000;
}

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

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Block this thread for `ms` without the event loop. */
function sleep(ms) {
  Atomics.wait(sleeper, 0, 0, ms);
}

function send(message) {
  const line = Buffer.from(`${JSON.stringify(message)}\n`);
  for (let off = 0; off < line.length; ) off += writeSync(CHANNEL_FD, line, off);
}

const readBuffer = Buffer.alloc(4096);
let pending = "";
/** The next command line from the parent, or undefined at end of file. Blocks in read(2). */
function nextCommand() {
  for (;;) {
    const nl = pending.indexOf("\n");
    if (nl >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      return JSON.parse(line);
    }
    const n = readSync(CHANNEL_FD, readBuffer, 0, readBuffer.length, null);
    if (n === 0) return undefined;
    pending += readBuffer.toString("utf8", 0, n);
  }
}

// Warm the JIT and the chunk size before declaring readiness.
burn(5);
send({ type: "ready", pid: process.pid });

for (let command = nextCommand(); command !== undefined; command = nextCommand()) {
  if (command === null || typeof command !== "object" || command.type !== "run") {
    throw new Error(`burn.mjs: unexpected command ${JSON.stringify(command)}`);
  }
  const startNs = process.hrtime.bigint();
  // Where the function runs from its first instruction (the replay checks registration came first).
  const nice = getPriority(0); // getpriority(PRIO_PROCESS, 0): this thread's nice on Linux
  const policy = ownPolicy();
  const usedMs = burn(Number(command.cpuMs));
  const blockMs = Number(command.blockMs);
  if (blockMs > 0) sleep(blockMs);
  const endNs = process.hrtime.bigint();
  send({ type: "done", id: command.id, startNs: String(startNs), endNs: String(endNs), cpuMs: usedMs, nice, policy });
}
process.exit(0);
