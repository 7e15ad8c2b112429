// One kernel's line of the kernel matrix, from what its guest (or the host
// row) left in its output folder: result.env (steps, times), doctor.json,
// vitest.json (the guest project's report) and facts.json (what the tests
// measured). Exits 1 when the kernel failed what it is expected to pass:
// boot, doctor, alps mode with the BPF sensor, the BPF smoke test, the
// two-function run, and the cgroup v2 weight test when that is required.
//
// A kernel expected to fall back to sfs (too old for the BPF programs)
// passes when doctor picks sfs and names why, and the BPF tests skip.
//
//   node summary.mjs <dir> <origin text> <weight test required: 0|1> [expected mode: alps|sfs]
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

const [dir, origin, weightRequired, expectedMode = "alps"] = process.argv.slice(2);
const read = (name) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), "utf8") : undefined);
const json = (name) => {
  const text = read(name);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

const env = Object.fromEntries(
  (read("result.env") ?? "")
    .split("\n")
    .filter((l) => l.includes("="))
    .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
);
const doctor = json("doctor.json");
const report = json("vitest.json");
const facts = json("facts.json") ?? {};

const problems = [];
const parts = [];
// A guest kernel that oopsed or panicked says so first: nothing after it counts.
const oops = (read("console.log") ?? "")
  .replace(/\x1b\[[0-9;]*[a-zA-Z]/g, "")
  .split("\n")
  .find((l) => /\] (Oops|BUG|Kernel panic)/.test(l));
if (oops !== undefined) problems.push(`guest kernel: ${oops.replace(/^\[[ 0-9.]+\] /, "").trim()}`);
const kernel = env.kernel ?? "?";
if (env.boot_s === undefined && !origin.includes("no VM")) {
  console.log(`kernel ? (${origin}): the guest did not report (see ${join(dir, "console.log")})`);
  process.exit(1);
}
const times = [
  env.boot_s === undefined ? undefined : `boot ${Number(env.boot_s).toFixed(1)} s`,
  env.doctor_s === undefined ? undefined : `doctor ${env.doctor_s} s`,
  env.tests_s === undefined ? undefined : `tests ${env.tests_s} s`,
].filter(Boolean);
parts.push(`kernel ${kernel} (${origin}; ${env.cgroup ?? "?"}; ${times.join(", ")})`);

// Mode and why.
if (doctor === undefined) {
  problems.push("doctor");
  parts.push("mode ? (alps doctor --json gave no report)");
} else if (doctor.mode === "alps") {
  parts.push("mode alps (BPF sensor)");
  if (expectedMode !== "alps") problems.push(`mode alps where ${expectedMode} was expected`);
} else {
  if (doctor.mode !== expectedMode) problems.push("mode");
  parts.push(`mode ${doctor.mode}${doctor.mode === expectedMode ? " (as expected)" : ""}: ${doctor.reasons?.[0] ?? "no reason given"}`);
}

// The guest tests, per file.
const files = {
  "bpf-smoke": "BPF smoke",
  "two-functions": "two-function run",
  "cgroup-v2-weight": "cgroup v2 weight test",
};
const results = {};
for (const file of report?.testResults ?? []) {
  const key = Object.keys(files).find((k) => file.name.endsWith(`/${k}.test.ts`));
  if (key === undefined) continue;
  const count = (s) => file.assertionResults.filter((a) => a.status === s).length;
  results[key] = {
    passed: count("passed"),
    failed: count("failed"),
    skipped: count("skipped") + count("pending") + count("todo"),
    total: file.assertionResults.length,
    failures: file.assertionResults
      .filter((a) => a.status === "failed")
      .map((a) => a.title),
    message: file.message,
  };
}
const verdict = (key) => {
  const r = results[key];
  if (r === undefined) return "did not run";
  if (r.total === 0) return `error (${(r.message ?? "").split("\n")[0]})`;
  if (r.failed > 0) return `FAIL ${r.passed}/${r.total} (${r.failures.join("; ")})`;
  if (r.skipped === r.total) return "skipped";
  return `pass ${r.passed}/${r.total}${r.skipped > 0 ? `, ${r.skipped} skipped` : ""}`;
};
const passed = (key) => {
  const r = results[key];
  return r !== undefined && r.total > 0 && r.failed === 0 && r.passed === r.total;
};
for (const key of ["bpf-smoke", "two-functions"]) {
  let text = `${files[key]}: ${verdict(key)}`;
  if (key === "bpf-smoke" && facts.smoke_levels !== undefined)
    text += ` [levels ${facts.smoke_levels}, ${facts.runtime_updates_per_100ms_cpu ?? "?"} sched_stat_runtime per 100 ms CPU]`;
  if (key === "two-functions" && facts.short_cpu_share_together !== undefined)
    text += ` [${facts.ranked ?? ""}; ${facts.levels_at_start ?? ""}; short's CPU share together ${facts.short_cpu_share_together}]`;
  parts.push(text);
  const skippedAsExpected =
    expectedMode !== "alps" && results[key] !== undefined && results[key].skipped === results[key].total;
  if (!passed(key) && !skippedAsExpected) problems.push(files[key]);
}
{
  const key = "cgroup-v2-weight";
  const without = facts.weight_short_share_without_alps;
  const withAlps = facts.weight_short_share_with_alps;
  let text = `${files[key]}: ${verdict(key)}`;
  if (without !== undefined || withAlps !== undefined)
    text += ` [short's CPU share: ${without ?? "?"} without alps, ${withAlps ?? "?"} with alps${facts.weight_daemon_mode ? ` (daemon mode ${facts.weight_daemon_mode})` : ""} (needs >= 0.67)${facts.weight_while_racing ? `; ${facts.weight_while_racing}` : ""}]`;
  if (!passed(key) && results[key]?.failed > 0)
    text +=
      expectedMode === "alps"
        ? " -- the kernel compares a task's nice only inside its own cpu cgroup: the level must reach the sandbox cgroup's cpu.weight/cpu.idle" +
          (weightRequired === "1" ? "" : " (not required: ALPS_WEIGHT_TEST_REQUIRED=0)")
        : ` -- not required where alps falls back to ${expectedMode}, which writes no cgroup weights`;
  parts.push(text);
  // Only a pure v2 hierarchy with the cpu controller can run it (every guest is one).
  const v2cpu = /^v2 \(.*\bcpu\b/.test(env.cgroup ?? "");
  if (!v2cpu && results[key] !== undefined && results[key].skipped === results[key].total)
    parts[parts.length - 1] += " (needs pure cgroup v2 with the cpu controller; this is not)";
  else if (weightRequired === "1" && expectedMode === "alps" && !passed(key)) problems.push(files[key]);
}

// What the kernel lacks, as doctor and the tests measured it.
if (doctor !== undefined) {
  const lacks = [];
  if (!doctor.btf) lacks.push("BTF");
  if (!doctor.bpf?.ok) lacks.push(`BPF (${doctor.bpf?.reason})`);
  const kf = doctor.kernel_features;
  if (kf?.fair_class === "cfs") lacks.push("EEVDF (CFS proper)");
  if (!doctor.fair_slice) lacks.push("fair-class slice request (sched_runtime read back 0)");
  if (kf !== undefined && kf.cgroup_cpu_idle === false) lacks.push("cgroup cpu.idle");
  if (facts.rt_runtime_traced === false) lacks.push("SCHED_FIFO runtime in sched_stat_runtime (measured)");
  if (!doctor.sched_ext) lacks.push("sched_ext");
  parts.push(`lacks: ${lacks.length === 0 ? "nothing alps uses" : lacks.join(", ")}`);
}
if (problems.length > 0) parts.push(`FAILED: ${problems.join(", ")}`);
console.log(parts.join(" | "));
process.exit(problems.length > 0 ? 1 : 0);
