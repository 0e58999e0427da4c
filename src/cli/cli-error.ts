/**
 * Errors the CLI reports as one line on stderr. `UsageError` means the command line itself was
 * wrong (exit 2, like every POSIX tool); `CliError` means the command could not do its job (exit 1).
 */
export class CliError extends Error {
  readonly exitCode: number = 1;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
  }
}

export class UsageError extends CliError {
  override readonly exitCode: number = 2;

  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The message of anything thrown, on one line (drivers sometimes put newlines in theirs). */
export function messageOf(error: unknown): string {
  const text = error instanceof Error ? error.message || error.name : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  const line = text.replace(/\s*\n\s*/g, ' ').trim();
  // AggregateError (e.g. a refused connect to both ::1 and 127.0.0.1) has an empty message.
  if (line === '' && error instanceof AggregateError && error.errors.length > 0)
    return messageOf(error.errors[0]);
  return line === '' && typeof code === 'string' ? code : line;
}
