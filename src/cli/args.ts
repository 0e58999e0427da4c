import { parseArgs } from 'node:util';
import { UsageError } from './cli-error.js';

/** One `--flag` of a command, as parsed and as shown in its `--help`. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  /** Placeholder for the value in help (`--port <port>`). */
  value?: string;
  /** Shown in help; also the value when the flag is absent. */
  default?: string;
  description: string;
}

/** What a command accepts, and the text of its `--help`. */
export interface CommandSpec {
  name: string;
  summary: string;
  /** The synopsis after `idemkit`, e.g. `proxy --upstream URL [options]`. */
  usage: string;
  /** Names of the positional arguments, in order; all required. */
  positionals?: readonly string[];
  options: Record<string, OptionSpec>;
  /** Paragraphs printed after the options. */
  details?: string;
}

export interface ParsedArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  /** `--help`/`-h` was given: print help and do nothing else. */
  help: boolean;
}

/**
 * Parse a command's arguments strictly. Anything unexpected becomes a `UsageError` with one
 * line that names the culprit, rather than `parseArgs`'s multi-sentence messages.
 */
export function parseCommandArgs(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, option] of Object.entries(spec.options)) options[name] = { type: option.type };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: true });
  } catch (error) {
    throw new UsageError(describeParseError(spec, error));
  }
  const values = { ...parsed.values } as Record<string, string | boolean | undefined>;
  const help = values.help === true;
  delete values.help;
  if (help) return { values, positionals: parsed.positionals, help };
  const expected = spec.positionals ?? [];
  if (parsed.positionals.length > expected.length) {
    throw new UsageError(
      `unexpected argument "${parsed.positionals[expected.length]}" (see idemkit ${spec.name} --help)`,
    );
  }
  const missing = expected[parsed.positionals.length];
  if (missing !== undefined) throw new UsageError(`missing ${missing} (see idemkit ${spec.name} --help)`);
  for (const [name, option] of Object.entries(spec.options)) {
    if (values[name] === undefined && option.default !== undefined) values[name] = option.default;
  }
  return { values, positionals: parsed.positionals, help };
}

function describeParseError(spec: CommandSpec, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown }).code;
  const flag = /'(-[^' ]+)/.exec(message)?.[1] ?? '';
  const see = `(see idemkit ${spec.name} --help)`;
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option ${flag} ${see}`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    if (message.includes('argument missing')) return `option ${flag} needs a value ${see}`;
    if (message.includes('ambiguous')) {
      return `option ${flag} needs a value; for one that starts with "-", write ${flag}=VALUE ${see}`;
    }
    return `option ${flag} takes no value ${see}`;
  }
  return `${message.split('. ')[0]} ${see}`;
}

/** The text of `idemkit <command> --help`. */
export function formatHelp(spec: CommandSpec): string {
  const rows = Object.entries(spec.options).map(([name, option]) => {
    const flag = option.type === 'string' ? `--${name} <${option.value ?? 'value'}>` : `--${name}`;
    const fallback = option.default === undefined ? '' : ` (default: ${option.default})`;
    return [flag, option.description + fallback] as const;
  });
  rows.push(['-h, --help', 'show this help']);
  const width = Math.max(...rows.map(([flag]) => flag.length));
  const lines = [
    `idemkit ${spec.name}: ${spec.summary}`,
    '',
    `usage: idemkit ${spec.usage}`,
    '',
    'options:',
    ...rows.map(([flag, description]) => `  ${flag.padEnd(width)}  ${description}`),
  ];
  if (spec.details) lines.push('', spec.details);
  return `${lines.join('\n')}\n`;
}

/** A string option that must be present. */
export function requiredString(args: ParsedArgs, spec: CommandSpec, name: string): string {
  const value = args.values[name];
  if (typeof value !== 'string' || value === '') {
    throw new UsageError(`option --${name} is required (see idemkit ${spec.name} --help)`);
  }
  return value;
}

export function optionalString(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === 'string' ? value : undefined;
}

/** A TCP port, 0–65535 (0 lets the system pick one). */
export function portOption(args: ParsedArgs, name: string): number | undefined {
  const value = optionalString(args, name);
  if (value === undefined) return undefined;
  const port = /^\d{1,5}$/.test(value) ? Number(value) : Number.NaN;
  if (!(port >= 0 && port <= 65_535))
    throw new UsageError(`option --${name} must be a port number 0-65535, got "${value}"`);
  return port;
}

/** A whole number of milliseconds (or bytes); `allowZero` for budgets where 0 means "none". */
export function wholeNumberOption(
  args: ParsedArgs,
  name: string,
  { allowZero = false }: { allowZero?: boolean } = {},
): number | undefined {
  const value = optionalString(args, name);
  if (value === undefined) return undefined;
  const number = /^\d{1,15}$/.test(value) ? Number(value) : Number.NaN;
  if (!(number > 0 || (allowZero && number === 0))) {
    throw new UsageError(
      `option --${name} must be a whole number${allowZero ? '' : ' above 0'}, got "${value}"`,
    );
  }
  return number;
}
