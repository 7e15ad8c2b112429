/**
 * docs/config.md, generated from CONFIG_FIELDS: `npm run docs:config` writes
 * it, and a test fails when the committed file is not what this prints.
 */
import { pathToFileURL } from "node:url";
import {
  allowedValues,
  CONFIG_FIELDS,
  CONFIG_KEYS,
  type ConfigKey,
  defaultText,
  envName,
  flagName,
  isSwitch,
  valueName,
} from "./config.js";

const INTRO = `# Configuration of \`alps daemon\`

Generated from \`src/frontend/config.ts\` by \`npm run docs:config\`; a test
fails when this file and the code disagree. \`alps daemon --help\` prints the
same facts.

Every option has four names:

- a **config-file key** (\`--config FILE\` or \`ALPS_CONFIG=FILE\`; JSON or
  YAML, one object of these keys),
- an **environment variable**,
- a **flag**,
- and a default.

Precedence: flags, then environment variables, then the config file, then
the defaults. In a variable or a flag a boolean is \`true\`/\`false\` (or
\`1\`/\`0\`, \`yes\`/\`no\`) and a list is comma-separated; in a file they are a
boolean and a list. \`--no-bpf\` is a switch: give it, or set
\`ALPS_NO_BPF=1\`.

A bad value stops the daemon before it touches the host, with one line that
names where the value came from (the flag, the variable, or the file, line
and key), what the option accepts and what was given, and exit status 2:

\`\`\`
alps daemon: flag --metrics-port: expected integer 0..65535, got '70000'
alps daemon: environment ALPS_ESTIMATOR: expected one of mean, ewma, linreg, got 'median'
alps daemon: /etc/alps/config.yaml:3: field 'theta': expected number 0..100, got 150
\`\`\`

An unknown key in the file is an error too (with the key it most likely
meant), never ignored.

Example file:

\`\`\`yaml
mode: alps
strategy: dynamic
learnPeriodMs: 2000
logFormat: json
platform: openwhisk
namespaces: [guest, BobsOrg_dev]
\`\`\`
`;

/** Table cells must not break the table, nor read as HTML (`<namespace>`). */
function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/<(?=[A-Za-z/!])/g, "&lt;");
}

function row(key: ConfigKey): string {
  const flag = isSwitch(key) ? `--${flagName(key)}` : `--${flagName(key)} <${valueName(key)}>`;
  const d = defaultText(key);
  return `| \`${key}\` | \`${flag}\` | \`${envName(key)}\` | ${d === undefined ? "unset" : `\`${cell(d)}\``} | ${cell(allowedValues(key))} | ${cell(CONFIG_FIELDS[key].help)} |`;
}

const LOGS = `## Logs

The daemon logs on stderr. \`--log-level\` drops lines less severe than it
(\`debug\` < \`info\` < \`warn\` < \`error\`). \`--log-format text\` writes
one line per record:

\`\`\`
2026-01-05T10:00:00.000Z info  alps daemon: control API on /run/alps/alps.sock
2026-01-05T10:00:02.004Z info  alps daemon: policy changed (learned in 3.1 ms): 12 functions; added resize #2; re-ranked thumbnail #5→#3
\`\`\`

\`--log-format json\` writes one JSON object per line (pino's layout: \`level\`
as a word, \`time\` in ISO 8601, \`pid\`, \`name\`, \`msg\`, and structured
fields such as \`policy_changes\` with \`added\`, \`removed\` and
\`reranked\`). A learned policy is logged only when it adds, removes or
re-ranks a function, and then as that change; the whole table is what
\`alps policy\` prints (at \`debug\`, every learned policy is logged whole).
`;

export function configDoc(): string {
  const table = [
    "| key | flag | variable | default | accepts | what |",
    "| --- | --- | --- | --- | --- | --- |",
    ...CONFIG_KEYS.map(row),
  ];
  return `${INTRO}\n## Options\n\n${table.join("\n")}\n\n${LOGS}`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href)
  process.stdout.write(configDoc());
