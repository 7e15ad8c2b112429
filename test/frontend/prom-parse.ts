/**
 * A small strict parser of the Prometheus text exposition format (0.0.4),
 * for tests: every line must be a HELP, a TYPE or a sample of a declared
 * family; names, labels, escapes and values are checked; histograms must
 * have cumulative buckets ending in +Inf equal to _count. Throws on anything
 * else, naming the line.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
export interface Family {
  name: string;
  type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  help: string | undefined;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseValue(text: string, where: string): number {
  // Prometheus reads values with Go's strconv.ParseFloat: NaN and Inf in any case (prom-client prints "Nan").
  if (/^[+]?inf(inity)?$/i.test(text)) return Number.POSITIVE_INFINITY;
  if (/^-inf(inity)?$/i.test(text)) return Number.NEGATIVE_INFINITY;
  if (/^nan$/i.test(text)) return Number.NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text))
    throw new Error(`${where}: bad value '${text}'`);
  return Number(text);
}

function parseLabels(text: string, where: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf("=", i);
    if (eq < 0) throw new Error(`${where}: label without '='`);
    const name = text.slice(i, eq);
    if (!LABEL.test(name)) throw new Error(`${where}: bad label name '${name}'`);
    if (name in labels) throw new Error(`${where}: duplicate label '${name}'`);
    if (text[eq + 1] !== '"') throw new Error(`${where}: label value must be quoted`);
    let j = eq + 2;
    let value = "";
    for (;;) {
      const c = text[j];
      if (c === undefined) throw new Error(`${where}: unterminated label value`);
      if (c === "\\") {
        const n = text[j + 1];
        if (n === "n") value += "\n";
        else if (n === "\\" || n === '"') value += n;
        else throw new Error(`${where}: bad escape '\\${n}'`);
        j += 2;
        continue;
      }
      if (c === '"') break;
      if (c === "\n") throw new Error(`${where}: raw newline in label value`);
      value += c;
      j++;
    }
    labels[name] = value;
    i = j + 1;
    if (i < text.length) {
      if (text[i] !== ",") throw new Error(`${where}: expected ',' between labels`);
      i++;
    }
  }
  return labels;
}

export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  if (!text.endsWith("\n")) throw new Error("exposition must end with a newline");
  const lines = text.split("\n").slice(0, -1);
  const familyOf = (sample: string): Family | undefined => {
    for (const suffix of ["", "_bucket", "_sum", "_count"]) {
      if (suffix !== "" && !sample.endsWith(suffix)) continue;
      const f = families.get(sample.slice(0, sample.length - suffix.length));
      if (f !== undefined && (suffix === "" || f.type === "histogram" || f.type === "summary"))
        return f;
    }
    return undefined;
  };
  lines.forEach((line, k) => {
    const where = `line ${k + 1}`;
    if (line === "") return;
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (m === null) return; // other comments are allowed
      const [, kind, name = "", rest = ""] = m;
      if (!NAME.test(name)) throw new Error(`${where}: bad metric name '${name}'`);
      let f = families.get(name);
      if (f === undefined) {
        f = { name, type: "untyped", help: undefined, samples: [] };
        families.set(name, f);
      }
      if (kind === "TYPE") {
        if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(rest))
          throw new Error(`${where}: bad type '${rest}'`);
        if (f.samples.length > 0) throw new Error(`${where}: TYPE after samples of ${name}`);
        f.type = rest as Family["type"];
      } else {
        if (f.help !== undefined) throw new Error(`${where}: second HELP for ${name}`);
        f.help = rest;
      }
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
    if (m === null) throw new Error(`${where}: not a sample: '${line}'`);
    const [, name = "", , labelText = "", valueText = ""] = m;
    const f = familyOf(name);
    if (f === undefined) throw new Error(`${where}: sample ${name} of an undeclared family`);
    f.samples.push({
      name,
      labels: parseLabels(labelText, where),
      value: parseValue(valueText, where),
    });
  });
  for (const f of families.values()) {
    if (f.type !== "histogram") continue;
    const series = new Map<string, Sample[]>();
    for (const s of f.samples) {
      if (!s.name.endsWith("_bucket")) continue;
      if (s.labels.le === undefined) throw new Error(`${f.name}: bucket without le`);
      const { le: _le, ...rest } = s.labels;
      const key = JSON.stringify(rest);
      series.set(key, [...(series.get(key) ?? []), s]);
    }
    for (const [key, buckets] of series) {
      let prev = -1;
      for (const b of buckets) {
        if (b.value < prev) throw new Error(`${f.name}${key}: buckets not cumulative`);
        prev = b.value;
      }
      const last = buckets.at(-1);
      if (last?.labels.le !== "+Inf") throw new Error(`${f.name}${key}: last bucket is not +Inf`);
      const count = f.samples.find(
        (s) => s.name === `${f.name}_count` && JSON.stringify(s.labels) === key,
      );
      if (count === undefined || count.value !== last.value)
        throw new Error(`${f.name}${key}: _count differs from the +Inf bucket`);
    }
  }
  return families;
}

/** The value of the sample `name` whose labels include `labels`. */
export function sampleValue(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
        return s.value;
    }
  }
  return undefined;
}
