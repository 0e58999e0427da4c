/**
 * Which failures are worth another attempt. The table lives here and nowhere else; the README's
 * "Calling an idempotent API" section mirrors it.
 */

/** Why an attempt is being repeated, as reported to `onRetry`. */
export type RetryReason =
  /** 408, 425, 429, 502, 503 or 504: the server says "not now", not "no". */
  | 'status'
  /** 409 `…/idempotency-key-in-flight`: the original is still running; the retry will get its answer. */
  | 'key-in-flight'
  /** fetch rejected: connection refused, reset, closed before the response was read. */
  | 'network-error'
  /** `attemptTimeout` elapsed before the response headers (and, for a 409, its body) arrived. */
  | 'attempt-timeout';

/**
 * Methods that are idempotent by definition (RFC 9110 §9.2.2): repeating them is safe without a key.
 * POST and PATCH are only repeated when they carry an `Idempotency-Key`.
 */
const idempotentMethods: ReadonlySet<string> = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

export function isIdempotentMethod(method: string): boolean {
  return idempotentMethods.has(method.toUpperCase());
}

/** Statuses that mean "try again later"; every other status is the server's final word. */
const retryableStatuses: ReadonlySet<number> = new Set([408, 425, 429, 502, 503, 504]);

/** idemkit (and the IETF draft) answers a duplicate of a running request with this problem type. */
const inFlightTypeSuffix = 'idempotency-key-in-flight';

/** Past this size a 409 body is not a problem document worth parsing. */
const maxProblemBytes = 64 * 1024;

/**
 * Decides whether a response should be retried, and why. Reads the body of a JSON 409 (through a
 * clone, so the caller still gets an unread response when it is not retried).
 */
export async function retryReasonForResponse(response: Response): Promise<RetryReason | undefined> {
  if (retryableStatuses.has(response.status)) return 'status';
  if (response.status === 409 && (await isKeyInFlight(response))) return 'key-in-flight';
  return undefined;
}

async function isKeyInFlight(response: Response): Promise<boolean> {
  const contentType = response.headers.get('content-type') ?? '';
  if (!/json/i.test(contentType)) return false;
  const length = Number(response.headers.get('content-length') ?? 0);
  if (length > maxProblemBytes) return false;
  try {
    const problem: unknown = JSON.parse(await response.clone().text());
    const type = (problem as { type?: unknown } | null)?.type;
    return typeof type === 'string' && type.endsWith(inFlightTypeSuffix);
  } catch {
    return false;
  }
}

/** System and undici codes that mean the connection failed, whatever the request was. */
const networkErrorCodes: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/**
 * True for a transport failure. The fetch standard rejects every network error with a `TypeError`
 * (undici puts the socket error in `cause`); other fetch implementations throw the system error
 * itself, so the `code` is looked for along the `cause` chain too. Mistakes in the request itself
 * (bad URL, GET with a body) never get here: the client builds the `Request` before the first
 * attempt, so they are thrown at once.
 */
export function isNetworkError(error: unknown): boolean {
  if (error instanceof TypeError) return true;
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const { code, cause } = current as { code?: unknown; cause?: unknown };
    if (typeof code === 'string' && networkErrorCodes.has(code)) return true;
    current = cause;
  }
  return false;
}
