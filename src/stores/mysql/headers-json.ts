import type { StoredResponse } from '../../core/store.js';

/**
 * Header pairs as JSON with every non-ASCII character escaped (`\u00e9`), so the text survives
 * any ASCII-compatible connection character set unchanged; JSON.parse restores it exactly.
 */
export function headersJson(headers: StoredResponse['headers']): string {
  return JSON.stringify(headers).replace(
    /[\u007f-\uffff]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
