import type { IdempotencyRoute } from './engine.js';

/**
 * Whether `route.begin()` will fingerprint this request: a method that takes keys, carrying a key
 * header. Middleware adapters read the request body only then, so every other request reaches
 * the app with its body stream untouched, for body parsers mounted after idemkit.
 */
export function needsBody(
  route: IdempotencyRoute,
  method: string | undefined,
  hasKeyHeader: boolean,
): boolean {
  return hasKeyHeader && route.options.methods.has((method ?? 'GET').toUpperCase());
}
