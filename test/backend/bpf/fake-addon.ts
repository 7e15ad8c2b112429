/**
 * An in-memory stand-in for the native addon and its BPF handle, for unit
 * tests of the BPF backend's TypeScript logic (what it writes to the maps,
 * in which order, and what it does with events). It records calls; it
 * decides nothing a kernel would. The kernel tests use the real addon.
 */
import type {
  AlpsAddon,
  AlpsEvent,
  BpfConfig,
  BpfHandle,
  BpfPolicyValue,
  BpfTaskState,
} from "../../../src/host/addon-types.js";
import { COUNTER_NAMES } from "../../../src/host/addon-types.js";
import { baseAttr, type SchedAttr } from "../../../src/host/syscalls-types.js";

export class FakeHandle implements BpfHandle {
  /** Every call, in order, as "method arg..." (what tests compare). */
  readonly calls: string[] = [];
  config: BpfConfig | undefined;
  readonly policy = new Map<number, BpfPolicyValue>();
  readonly cgroups = new Map<bigint, number>();
  readonly tasks = new Map<number, BpfTaskState>();
  readonly counterValues: bigint[] = COUNTER_NAMES.map(() => 0n);
  #deliver: ((events: AlpsEvent[]) => void) | undefined;
  /** Events posted without a wake-up: they wait until drainEvents. */
  readonly #held: AlpsEvent[] = [];
  closed = false;

  setConfig(config: BpfConfig): void {
    this.calls.push(`setConfig ${config.strategy}`);
    this.config = config;
  }
  setPolicy(fnId: number, value: BpfPolicyValue): void {
    this.calls.push(`setPolicy ${fnId}`);
    this.policy.set(fnId, value);
  }
  clearPolicy(fnId: number): void {
    this.calls.push(`clearPolicy ${fnId}`);
    this.policy.delete(fnId);
  }
  setCgroup(cgroupId: bigint, fnId: number): void {
    this.calls.push(`setCgroup ${fnId}`);
    this.cgroups.set(cgroupId, fnId);
  }
  deleteCgroup(cgroupId: bigint): void {
    this.calls.push("deleteCgroup");
    this.cgroups.delete(cgroupId);
  }
  registerTask(tid: number, fnId: number, level: number, root: number, flags = 0): void {
    this.calls.push(`registerTask ${tid} ${fnId} ${level} ${root}`);
    this.tasks.set(tid, {
      fn: fnId,
      flags: 2 | flags,
      burstStartNs: 0n,
      burstUsedNs: 0n,
      totalNs: 0n,
      level,
      root,
    });
  }
  unregisterTask(tid: number): boolean {
    this.calls.push(`unregisterTask ${tid}`);
    return this.tasks.delete(tid);
  }
  readTask(tid: number): BpfTaskState | null {
    return this.tasks.get(tid) ?? null;
  }
  taskIds(): number[] {
    return [...this.tasks.keys()];
  }
  tasksOfRoot(root: number): number[] {
    this.calls.push(`tasksOfRoot ${root}`);
    return [...this.tasks].filter(([, t]) => t.root === root).map(([tid]) => tid);
  }
  counters(): bigint[] {
    return [...this.counterValues];
  }
  counter(index: number): bigint {
    return this.counterValues[index] ?? 0n;
  }
  startEvents(callback: (events: AlpsEvent[]) => void): void {
    this.calls.push("startEvents");
    this.#deliver = callback;
  }
  drainEvents(): AlpsEvent[] {
    if (this.#deliver === undefined) return [];
    return this.#held.splice(0);
  }
  stopEvents(): void {
    this.calls.push("stopEvents");
    this.#deliver = undefined;
    this.#held.length = 0;
  }
  close(): void {
    this.calls.push("close");
    this.closed = true;
  }

  /** Deliver events as the ring buffer would (no-op once stopped); held ones first, as the ring keeps order. */
  emit(...events: AlpsEvent[]): void {
    this.#deliver?.([...this.#held.splice(0), ...events]);
  }

  /** Post events without a wake-up (BPF_RB_NO_WAKEUP): read at the next emit or drainEvents. */
  hold(...events: AlpsEvent[]): void {
    if (this.#deliver !== undefined) this.#held.push(...events);
  }
}

/** A fake addon whose syscalls record what they would set, per tid. */
export class FakeAddon implements AlpsAddon {
  readonly handle = new FakeHandle();
  readonly attrs = new Map<number, SchedAttr>();
  /** The clock events are stamped with. */
  nowNs = 1_000_000_000n;
  openedPath: string | undefined;

  structLayout(): never {
    throw new Error("the fake addon has no C layout");
  }
  openBpf(objectPath: string): BpfHandle {
    this.openedPath = objectPath;
    return this.handle;
  }
  setNice(tid: number, nice: number): void {
    this.attrs.set(tid, { ...(this.attrs.get(tid) ?? baseAttr()), nice });
  }
  getNice(tid: number): number {
    return this.attrs.get(tid)?.nice ?? 0;
  }
  setAttr(tid: number, attr: SchedAttr): void {
    this.handle.calls.push(`setAttr ${tid} ${attr.nice}`);
    this.attrs.set(tid, attr);
  }
  getAttr(tid: number): SchedAttr {
    return this.attrs.get(tid) ?? baseAttr();
  }
  setAffinity(): void {}
  getAffinity(): number[] {
    return [0];
  }
  monotonicNs(): bigint {
    return this.nowNs;
  }
}
