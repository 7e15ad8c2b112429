/**
 * Where the daemon's main thread spent its CPU, from a V8 `.cpuprofile`
 * (what `npm run bench -- daemon-cost` writes with --cpu-prof DIR): each
 * sample goes to the first category below that one of its frames (leaf to
 * root) matches, so a /proc read inside the pid rule counts as the pid rule
 * and a zod check inside the HTTP body reader as the body reader. Idle
 * samples are left out; the profile's first `--skip-s` seconds (start-up:
 * BPF load, module compilation) too.
 *
 *   node dist/bench/cpu-profile-categories.js DIR/this.cpuprofile [--skip-s 10] [--top 25]
 *
 * Prints the share of each category and the top self-time functions.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export const CPU_CATEGORIES: ReadonlyArray<readonly [string, RegExp]> = [
  ["garbage collection", /^\(garbage collector\)/],
  ["learner", /learnNow|learnPolicy|learner\.js/],
  ["ring-buffer events (levels applied, bursts)", /#onEvents|#applyEvent|OnReadable|#onBurst/],
  ["actuator: nice, cgroup weights, touched record", /actuator\.js|weight-targets\.js|touched/],
  ["pid rule (checkPid: /proc cgroup, ppid walk)", /checkPid|access\.js/],
  ["bpf backend (task-map writes)", /bpf-backend\.js|fn-ids\.js/],
  ["daemon bookkeeping (schedstat, window, listeners)", /frontend\/daemon\.js|window\.js/],
  ["metrics", /metrics\.js|prom-client/],
  ["refusal log and logging", /refusal-log\.js|log\.js|pino/],
  ["API: body read, JSON, zod", /#readJson|#readBody|zod|validated/],
  ["API: response", /#send\b|#send /],
  ["line protocol", /line-server\.js|line-protocol\.js/],
  ["API: rest of the handler", /#handle|routes\.js|server\.js/],
  ["node:http (parser, request and response objects)", /node:_http|parserOn|HTTPParser/],
  ["node:net, streams", /node:net|node:internal\/streams|node:stream/],
  ["timers", /processTimers|listOnTimeout/],
  ["native, unattributed ((program))", /^\(program\)/],
];
const OTHER = "other";

export function summarize(
  profile: CpuProfile,
  skipMs: number,
): {
  totalMs: number;
  categories: Array<{ category: string; ms: number }>;
  top: Array<{ fn: string; ms: number }>;
} {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const label = (n: ProfileNode): string =>
    `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url.replace(/^file:\/\/.*\/(dist|node_modules)\//, "$1/")}`;
  const categoryOf = new Map<number, string>();
  const category = (id: number): string => {
    const known = categoryOf.get(id);
    if (known !== undefined) return known;
    let found = OTHER;
    outer: for (const [name, rx] of CPU_CATEGORIES) {
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const node = byId.get(at);
        if (node !== undefined && rx.test(label(node))) {
          found = name;
          break outer;
        }
      }
    }
    categoryOf.set(id, found);
    return found;
  };
  const perCategory = new Map<string, number>();
  const perFunction = new Map<string, number>();
  let t = 0;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = (profile.timeDeltas[i] ?? 0) / 1000;
    t += dt;
    if (t < skipMs) continue;
    const node = byId.get(profile.samples[i] as number);
    if (node === undefined || node.callFrame.functionName === "(idle)") continue;
    total += dt;
    const c = category(node.id);
    perCategory.set(c, (perCategory.get(c) ?? 0) + dt);
    const f = label(node);
    perFunction.set(f, (perFunction.get(f) ?? 0) + dt);
  }
  const sorted = (m: Map<string, number>): Array<[string, number]> =>
    [...m].sort((a, b) => b[1] - a[1]);
  return {
    totalMs: total,
    categories: sorted(perCategory).map(([category, ms]) => ({ category, ms })),
    top: sorted(perFunction).map(([fn, ms]) => ({ fn, ms })),
  };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [file] = process.argv
    .slice(2)
    .filter((a, i, all) => !a.startsWith("--") && !all[i - 1]?.startsWith("--"));
  if (file === undefined) {
    console.error("usage: cpu-profile-categories.js FILE.cpuprofile [--skip-s S] [--top N]");
    process.exit(2);
  }
  const arg = (name: string, fallback: number): number => {
    const at = process.argv.indexOf(name);
    return at < 0 ? fallback : Number(process.argv[at + 1]);
  };
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const s = summarize(profile, arg("--skip-s", 0) * 1000);
  console.log(`main thread, not idle: ${s.totalMs.toFixed(0)} ms`);
  for (const c of s.categories)
    console.log(
      `${((100 * c.ms) / s.totalMs).toFixed(1).padStart(5)} %  ${c.ms.toFixed(0).padStart(6)} ms  ${c.category}`,
    );
  console.log("\ntop self time:");
  for (const f of s.top.slice(0, arg("--top", 25)))
    console.log(`${((100 * f.ms) / s.totalMs).toFixed(1).padStart(5)} %  ${f.fn}`);
}
