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

/** Table cells must not break the table. */
function cell(text: string): string {
  return text.replace(/\|/g, "\\|");
}

function row(key: ConfigKey): string {
  const flag = isSwitch(key) ? `--${flagName(key)}` : `--${flagName(key)} <${valueName(key)}>`;
  const d = defaultText(key);
  return `| \`${key}\` | \`${flag}\` | \`${envName(key)}\` | ${d === undefined ? "unset" : `\`${cell(d)}\``} | ${cell(allowedValues(key))} | ${cell(CONFIG_FIELDS[key].help)} |`;
}

export function configDoc(): string {
  const table = [
    "| key | flag | variable | default | accepts | what |",
    "| --- | --- | --- | --- | --- | --- |",
    ...CONFIG_KEYS.map(row),
  ];
  return `${INTRO}\n## Options\n\n${table.join("\n")}\n`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href)
  process.stdout.write(configDoc());
