/**
 * The scheduling syscalls through ffi-rs, for hosts where the native addon
 * could not be built (no compiler, no libbpf). SFS mode needs only these, so
 * it keeps working there (issue 5).
 *
 * glibc has no wrapper for sched_setattr/sched_getattr, so they go through
 * `syscall(2)` with the x86_64 numbers. `struct sched_attr` lives in one
 * malloc'd 56-byte block that is viewed from JS as a zero-copy Buffer: the
 * kernel writes into the same memory we read back.
 */
import { constants } from "node:os";
import { LIBC as LIBRARY, libc } from "./libc.js";
import type { SchedAttr, Syscalls } from "./syscalls-types.js";

type External = import("ffi-rs").JsExternal;

/** x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl). */
const SYS_SCHED_SETATTR = 314;
const SYS_SCHED_GETATTR = 315;
/** sizeof(struct sched_attr) with the utilization clamps (SCHED_ATTR_SIZE_VER1). */
export const SCHED_ATTR_SIZE = 56;
/** Room for 1024 CPUs, as glibc's cpu_set_t. */
const CPU_MASK_BYTES = 128;
const PRIO_PROCESS = 0;

/** Byte offsets inside struct sched_attr (include/uapi/linux/sched/types.h). */
const OFF = {
  size: 0,
  policy: 4,
  flags: 8,
  nice: 16,
  priority: 20,
  runtime: 24,
  deadline: 32,
  period: 40,
} as const;

const ERRNO_NAMES = new Map<number, string>(
  Object.entries(constants.errno).map(([name, code]) => [code, name]),
);

/** An Error with the errno name in `.code`, like Node's own system errors. */
export class SyscallError extends Error {
  override readonly name = "SyscallError";
  constructor(
    readonly syscall: string,
    readonly tid: number,
    readonly errno: number,
  ) {
    const code = ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
    super(`${syscall}(tid ${tid}) failed: ${code}`);
    this.code = code;
  }
  readonly code: string;
}

export function encodeSchedAttr(buf: Buffer, attr: SchedAttr): void {
  buf.fill(0, 0, SCHED_ATTR_SIZE);
  buf.writeUInt32LE(SCHED_ATTR_SIZE, OFF.size);
  buf.writeUInt32LE(attr.policy, OFF.policy);
  buf.writeBigUInt64LE(attr.flags, OFF.flags);
  buf.writeInt32LE(attr.nice, OFF.nice);
  buf.writeUInt32LE(attr.priority, OFF.priority);
  buf.writeBigUInt64LE(attr.runtimeNs, OFF.runtime);
  buf.writeBigUInt64LE(attr.deadlineNs, OFF.deadline);
  buf.writeBigUInt64LE(attr.periodNs, OFF.period);
}

export function decodeSchedAttr(buf: Buffer): SchedAttr {
  return {
    policy: buf.readUInt32LE(OFF.policy),
    flags: buf.readBigUInt64LE(OFF.flags),
    nice: buf.readInt32LE(OFF.nice),
    priority: buf.readUInt32LE(OFF.priority),
    runtimeNs: buf.readBigUInt64LE(OFF.runtime),
    deadlineNs: buf.readBigUInt64LE(OFF.deadline),
    periodNs: buf.readBigUInt64LE(OFF.period),
  };
}

/** Loads libc through ffi-rs. Throws (with the cause) when ffi-rs or libc is unusable. */
export function createFfiSyscalls(): Syscalls {
  if (process.arch !== "x64") {
    throw new Error(
      `ffi syscalls know the sched_setattr numbers of x86_64 only, this is ${process.arch}`,
    );
  }
  const ffi = libc();
  const { DataType } = ffi;

  const malloc = (bytes: number): External => {
    const ptr = ffi.load({
      library: LIBRARY,
      funcName: "malloc",
      retType: DataType.External,
      paramsType: [DataType.U64],
      paramsValue: [bytes],
    });
    if (ffi.isNullPointer(ptr)) throw new Error(`malloc(${bytes}) returned NULL`);
    return ptr;
  };
  // Allocated once for the life of the process: every call reuses them, and
  // calls are synchronous on the JS thread, so they are never shared.
  const attrPtr = malloc(SCHED_ATTR_SIZE);
  const attrBuf = ffi.createExternalBuffer(attrPtr, SCHED_ATTR_SIZE);
  const maskPtr = malloc(CPU_MASK_BYTES);
  const maskBuf = ffi.createExternalBuffer(maskPtr, CPU_MASK_BYTES);
  const errnoPtr = ffi.load({
    library: LIBRARY,
    funcName: "__errno_location",
    retType: DataType.External,
    paramsType: [],
    paramsValue: [],
  });
  const errnoBuf = ffi.createExternalBuffer(errnoPtr, 4);

  /**
   * Calls a libc function; -1 with errno set is a failure. `syscall` returns
   * a long, the others an int: reading an int as 64 bits would pick up
   * garbage in the upper half.
   */
  const call = (
    funcName: string,
    name: string,
    tid: number,
    paramsType: import("ffi-rs").FieldType[],
    paramsValue: unknown[],
  ): number => {
    errnoBuf.writeInt32LE(0, 0);
    const retType = funcName === "syscall" ? DataType.I64 : DataType.I32;
    const result = ffi.load({
      library: LIBRARY,
      funcName,
      retType,
      paramsType,
      paramsValue,
      errno: true as const,
    });
    const value = Number(result.value);
    // getpriority may return -1 legitimately (nice -1): only errno says it failed.
    if (value === -1 && result.errnoCode !== 0) throw new SyscallError(name, tid, result.errnoCode);
    return value;
  };

  return {
    kind: "ffi",
    setNice(tid, nice) {
      call(
        "setpriority",
        "setpriority",
        tid,
        [DataType.I32, DataType.I32, DataType.I32],
        [PRIO_PROCESS, tid, nice],
      );
    },
    getNice(tid) {
      return call(
        "getpriority",
        "getpriority",
        tid,
        [DataType.I32, DataType.I32],
        [PRIO_PROCESS, tid],
      );
    },
    setAttr(tid, attr) {
      encodeSchedAttr(attrBuf, attr);
      call(
        "syscall",
        "sched_setattr",
        tid,
        [DataType.I64, DataType.I32, DataType.External, DataType.I32],
        [SYS_SCHED_SETATTR, tid, attrPtr, 0],
      );
    },
    getAttr(tid) {
      attrBuf.fill(0, 0, SCHED_ATTR_SIZE);
      call(
        "syscall",
        "sched_getattr",
        tid,
        [DataType.I64, DataType.I32, DataType.External, DataType.I32, DataType.I32],
        [SYS_SCHED_GETATTR, tid, attrPtr, SCHED_ATTR_SIZE, 0],
      );
      return decodeSchedAttr(attrBuf);
    },
    setAffinity(tid, cpus) {
      maskBuf.fill(0);
      for (const cpu of cpus) {
        if (!Number.isInteger(cpu) || cpu < 0 || cpu >= CPU_MASK_BYTES * 8) {
          throw new RangeError(`cpu ${cpu} is outside 0..${CPU_MASK_BYTES * 8 - 1}`);
        }
        maskBuf[cpu >> 3] = (maskBuf[cpu >> 3] as number) | (1 << (cpu & 7));
      }
      call(
        "sched_setaffinity",
        "sched_setaffinity",
        tid,
        [DataType.I32, DataType.U64, DataType.External],
        [tid, CPU_MASK_BYTES, maskPtr],
      );
    },
    getAffinity(tid) {
      maskBuf.fill(0);
      call(
        "sched_getaffinity",
        "sched_getaffinity",
        tid,
        [DataType.I32, DataType.U64, DataType.External],
        [tid, CPU_MASK_BYTES, maskPtr],
      );
      const cpus: number[] = [];
      for (let cpu = 0; cpu < CPU_MASK_BYTES * 8; cpu++) {
        if (((maskBuf[cpu >> 3] as number) >> (cpu & 7)) & 1) cpus.push(cpu);
      }
      return cpus;
    },
  };
}
