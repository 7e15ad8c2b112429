/**
 * `npm run bench`: every benchmark of the project, one after the other,
 * printing its figures. Speed and memory targets live here, never in tests.
 * Run one with `npm run bench -- <name>`.
 */
type Bench = { name: string; run: () => Promise<void> };

const benches: Bench[] = [
  // one line per area, e.g. { name: "sim", run: async () => (await import("./sim.js")).benchSim() },
  { name: "learner", run: async () => (await import("./learner.js")).benchLearner() },
  { name: "feedback", run: async () => (await import("./feedback.js")).benchFeedback() },
  { name: "trace", run: async () => (await import("./trace.js")).benchTrace() },
  { name: "sim", run: async () => (await import("./sim.js")).benchSim() },
  {
    name: "daemon-cost",
    run: async () => (await import("./daemon-cost.js")).benchDaemonCost(),
  },
  { name: "soak", run: async () => (await import("./soak.js")).benchSoak() },
  { name: "bpf", run: async () => (await import("./bpf.js")).benchBpf() },
  { name: "sfs", run: async () => (await import("./sfs.js")).benchSfs() },
];

const only = process.argv.slice(2);
for (const bench of benches) {
  if (only.length > 0 && !only.includes(bench.name)) continue;
  console.log(`\n== ${bench.name} ==`);
  await bench.run();
}
