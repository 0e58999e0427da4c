import { createHash } from 'node:crypto';

/**
 * A tenant scope from a credential header: its SHA-256 (hex), so requests with different API keys
 * never share an idempotency key, and the credential itself never reaches the store. '' when absent.
 */
export function credentialScope(value: string | string[] | undefined): string {
  if (value === undefined) return '';
  return createHash('sha256')
    .update(Array.isArray(value) ? value.join('\n') : value)
    .digest('hex');
}
