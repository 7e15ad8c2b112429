/**
 * A commander option for one of the daemon's config keys, its help generated
 * from the field (what it accepts, its default, its variable). `alps daemon`
 * takes all of them; `alps doctor` the platform ones; `alps simulate` the
 * learner's. Values are only parsed here: loadConfig merges flags,
 * environment, file and defaults and validates them all the same way.
 */
import { Option } from "commander";
import { type ConfigKey, flagHelp, flagName, isSwitch, valueName } from "../frontend/config.js";

export function configOption(key: ConfigKey): Option {
  if (isSwitch(key)) return new Option(`--${flagName(key)}`, flagHelp(key));
  return new Option(`--${flagName(key)} <${valueName(key)}>`, flagHelp(key));
}

/** The config keys' values among commander's options (a switch `--no-x` is stored as x = false). */
export function configFlags(
  opts: Record<string, unknown>,
  keys: readonly ConfigKey[],
): Record<string, unknown> {
  const flags: Record<string, unknown> = {};
  for (const key of keys) {
    const value = opts[configOption(key).attributeName()];
    if (isSwitch(key)) {
      if (value === false) flags[key] = true;
    } else if (value !== undefined) flags[key] = value;
  }
  return flags;
}
