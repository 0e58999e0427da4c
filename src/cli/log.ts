import type { IdempotencyEvent, IdempotencyEventType } from '../core/events.js';
import { messageOf } from './cli-error.js';

export const logLevels = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

type Fields = Record<string, unknown>;

/** Writes one JSON object per line, so `idemkit … | jq` and log shippers read it as is. */
export interface Logger {
  debug(message: string, fields?: Fields): void;
  info(message: string, fields?: Fields): void;
  warn(message: string, fields?: Fields): void;
  error(message: string, fields?: Fields): void;
  /** One line for one idempotency outcome, at the level the outcome deserves. */
  outcome(event: IdempotencyEvent): void;
}

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** Routine outcomes are info; a client's mistake or a lost race is a warning; a failing store is an error. */
const outcomeLevels: Record<IdempotencyEventType, Exclude<LogLevel, 'silent'>> = {
  executed: 'info',
  replayed: 'info',
  waited: 'info',
  conflict: 'warn',
  mismatch: 'warn',
  'invalid-key': 'warn',
  'lease-lost': 'warn',
  'not-stored': 'warn',
  'store-error': 'error',
};

/**
 * A logger that writes lines at or above `level` to `write` (stdout by default).
 *
 * @example
 * ```ts
 * const log = createLogger('info');
 * const engine = createIdempotency({ store, onEvent: log.outcome });
 * ```
 */
export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => process.stdout.write(line),
): Logger {
  const threshold = rank[level];
  const emit = (lineLevel: Exclude<LogLevel, 'silent'>, fields: Fields): void => {
    if (rank[lineLevel] < threshold) return;
    write(`${JSON.stringify({ time: new Date().toISOString(), level: lineLevel, ...fields })}\n`);
  };
  return {
    debug: (msg, fields) => emit('debug', { msg, ...fields }),
    info: (msg, fields) => emit('info', { msg, ...fields }),
    warn: (msg, fields) => emit('warn', { msg, ...fields }),
    error: (msg, fields) => emit('error', { msg, ...fields }),
    outcome(event) {
      const { type, error, durationMs, ...rest } = event;
      emit(outcomeLevels[type] ?? 'info', {
        outcome: type,
        ...rest,
        durationMs: Math.round(durationMs * 100) / 100,
        ...(error === undefined ? {} : { error: describeError(error) }),
      });
    },
  };
}

/** The error and, when it wraps a driver's error, that one too: the cause is what an operator needs. */
export function describeError(error: unknown): string {
  const cause = (error as { cause?: unknown } | null)?.cause;
  const own = messageOf(error);
  if (cause === undefined) return own;
  const inner = messageOf(cause);
  return own.includes(inner) ? own : `${own} (${inner})`;
}

export function parseLogLevel(value: string): LogLevel | undefined {
  return (logLevels as readonly string[]).includes(value) ? (value as LogLevel) : undefined;
}
