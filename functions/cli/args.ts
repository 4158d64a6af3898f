/** Command-line parsing for the `shipcast` CLI: flags as `--name value` or `--name=value`, booleans, positionals. */

/** A command line the user got wrong; the message says what to type instead. Exit code 64. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Parsed arguments of one command. */
export interface ParsedArgs {
  positionals: string[];
  flags: Map<string, string[]>;
  booleans: Set<string>;
}

/** What a command accepts: flags that take a value (repeatable) and flags that do not. */
export interface ArgSpec {
  values: readonly string[];
  booleans: readonly string[];
}

/** Parses `args` against `spec`; an unknown flag or a missing value is a UsageError naming it. */
export function parseArgs(args: readonly string[], spec: ArgSpec): ParsedArgs {
  const parsed: ParsedArgs = { positionals: [], flags: new Map(), booleans: new Set() };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--') {
      parsed.positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--') || arg === '--') {
      parsed.positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    if (spec.booleans.includes(name)) {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      parsed.booleans.add(name);
      continue;
    }
    if (!spec.values.includes(name)) {
      const known = [...spec.values, ...spec.booleans].map((n) => `--${n}`).join(', ');
      throw new UsageError(`unknown flag --${name} (this command takes ${known || 'no flags'})`);
    }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      value = args[i + 1];
      if (value === undefined || (value.startsWith('--') && value.length > 2)) {
        throw new UsageError(`--${name} needs a value`);
      }
      i++;
    }
    parsed.flags.set(name, [...(parsed.flags.get(name) ?? []), value]);
  }
  return parsed;
}

/** The last value given for `name`, if any. */
export function flag(parsed: ParsedArgs, name: string): string | undefined {
  return parsed.flags.get(name)?.at(-1);
}

/** Every value given for `name`, comma-separated values split. */
export function flagList(parsed: ParsedArgs, name: string): string[] {
  return (parsed.flags.get(name) ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
}

/** Parses a duration such as `90`, `90s`, `15m`, `2h` into milliseconds. */
export function parseDuration(text: string, flagName: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new UsageError(`--${flagName} must be a duration such as 90s, 15m or 2h (got "${text}")`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(match[1]) * unit);
}
