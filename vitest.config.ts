import { defineConfig } from "vitest/config";

// Two projects: `unit` runs in parallel and never touches the scheduler;
// `kernel` holds every test that loads BPF, changes a nice level or uses
// SCHED_FIFO. Those share the host's two cores, so `npm test` runs them after
// the unit project, one file at a time (see package.json "test").
export default defineConfig({
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: ["test/kernel/**"],
          testTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: "kernel",
          include: ["test/kernel/**/*.test.ts"],
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
