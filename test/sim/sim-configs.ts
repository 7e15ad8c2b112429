/**
 * Every policy configuration the simulator tests run over (each policy, the
 * parameters that change its code path, each alps strategy), for `policy`.
 */
import type { Policy } from "../../src/contracts/policy.js";
import type { SimOptions } from "../../src/sim/index.js";

export function allConfigs(cores: number, policy: Policy): SimOptions[] {
  return [
    { policy: "ps", cores },
    { policy: "fifo", cores },
    { policy: "srpt", cores },
    { policy: "srpt", cores, quantumMs: 2 },
    { policy: "cfs", cores },
    { policy: "cfs", cores, cfs: { baseSliceMs: 1.5, switchCostMs: 0.25 } },
    { policy: "sfs", cores, sfs: { initialSliceMs: 2, recomputeEvery: 3, floorMs: 0.5 } },
    { policy: "alps", cores, alps: { policy, strategy: "dynamic" } },
    { policy: "alps", cores, alps: { policy, strategy: "static" } },
    { policy: "alps", cores, alps: { policy, strategy: "rt" } },
    { policy: "alps-ideal", cores, alps: { policy } },
  ];
}
