import { Buffer } from 'node:buffer';

/**
 * A Buffer over the same memory as `bytes`, without copying: drivers and frameworks want Buffers,
 * and the engine hands bodies around as plain `Uint8Array`s. A Buffer comes back as it is.
 */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
