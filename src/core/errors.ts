/** Where every error code is explained: the README's Errors section, one heading (anchor) per code. */
export const docsUrl = 'https://github.com/idemkit/idemkit#';

/** The stable codes of everything idemkit answers or throws. */
export type IdempotencyErrorCode =
  | 'idempotency-key-invalid'
  | 'idempotency-key-missing'
  | 'idempotency-key-reused'
  | 'idempotency-key-in-flight'
  | 'idempotency-store-unavailable'
  | 'idempotency-store-timeout'
  | 'idempotency-invalid-option';

/**
 * An error with a stable `code` and a link to its documentation. Store failures reach `onEvent`
 * as one of these (with the driver's error as `cause`); bad options throw one at construction.
 */
export class IdempotencyError extends Error {
  readonly code: IdempotencyErrorCode;
  readonly docs: string;

  constructor(code: IdempotencyErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IdempotencyError';
    this.code = code;
    this.docs = docsUrl + code;
  }
}
