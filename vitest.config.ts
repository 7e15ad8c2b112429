import { defineConfig } from "vitest/config";

// Two projects: `unit` runs in parallel and never touches the scheduler;
// `kernel` holds every test that loads BPF, changes a nice level or uses
// SCHED_FIFO. Those share the host's two cores, so `npm test` runs them after
// the unit project, one file at a time (see package.json "test"). A third,
// `guest`, is what the kernel matrix runs inside each guest kernel.
export default defineConfig({
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: ["test/kernel/**", "test/guest/**"],
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
      {
        // Run inside each guest kernel by scripts/kernel-matrix.sh (npm run
        // test:kernels); serial like the kernel project, and patient, because
        // the guest runs under software emulation.
        extends: true,
        test: {
          name: "guest",
          include: ["test/guest/**/*.test.ts"],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
