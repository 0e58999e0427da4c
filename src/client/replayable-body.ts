/**
 * Turns whatever body the caller gave into something every attempt can send again, byte for byte.
 * Byte-for-byte matters: the server fingerprints the body, and a retry whose body differs from the
 * first attempt's is answered 422 (key reused with another request) instead of the stored result.
 */

/** The body each attempt sends. */
export type PreparedBody =
  /** Safe to send on every attempt. `null` when there is no body. */
  | { replayable: true; body: Uint8Array | Blob | null }
  /**
   * A one-shot stream larger than `maxBufferedBody`: it can be sent once, so the call makes one
   * attempt. `body` yields the bytes already read, then the rest of the caller's stream.
   */
  | { replayable: false; body: ReadableStream<Uint8Array>; bufferedBytes: number };

/**
 * Reads the body of `request` (built once from the caller's input) into a replayable form.
 *
 * - in-memory bodies (string, ArrayBuffer, typed arrays, Buffer, DataView, URLSearchParams,
 *   FormData): serialised once to bytes. Once, because FormData gets a fresh random multipart
 *   boundary every time it is serialised, and because the caller may reuse its buffer or params
 *   object after the call started; either would make a retry's body differ from the first.
 * - Blob / File: immutable, so the Blob itself is sent again (a large file is never copied).
 * - ReadableStream, async iterable, or the body of a `Request` input: read up to
 *   `maxBufferedBody` bytes; past that, the body is `replayable: false`.
 *
 * `signal` stops the reading of a stream that stalls (the caller aborted or the deadline passed).
 */
export async function prepareBody(
  request: Request,
  initBody: unknown,
  maxBufferedBody: number,
  signal: AbortSignal,
): Promise<PreparedBody> {
  if (request.body === null) return { replayable: true, body: null };
  if (initBody instanceof Blob) return { replayable: true, body: initBody };
  if (isInMemoryBody(initBody)) return { replayable: true, body: await bytesOf(request) };
  return bufferStream(request.body, maxBufferedBody, signal);
}

async function bytesOf(request: Request): Promise<Uint8Array> {
  return new Uint8Array(await request.arrayBuffer());
}

function isInMemoryBody(body: unknown): boolean {
  return (
    typeof body === 'string' ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof URLSearchParams ||
    body instanceof FormData
  );
}

async function bufferStream(
  stream: ReadableStream<Uint8Array>,
  limit: number,
  signal: AbortSignal,
): Promise<PreparedBody> {
  const reader = stream.getReader();
  // Cancelling settles a pending read, so an abort does not wait for a stalled producer.
  const onAbort = () => void reader.cancel(signal.reason).catch(() => {});
  signal.addEventListener('abort', onAbort, { once: true });
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      signal.throwIfAborted();
      if (done) return { replayable: true, body: concatenate(chunks, size) };
      const chunk = asBytes(value);
      chunks.push(chunk);
      size += chunk.byteLength;
      if (size > limit) return { replayable: false, body: resumeStream(chunks, reader), bufferedBytes: size };
    }
  } catch (error) {
    await reader.cancel(error).catch(() => {});
    throw error;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

function asBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  // fetch itself rejects such a stream; say so before anything is sent.
  throw new TypeError('A request body stream must yield Uint8Array chunks');
}

function concatenate(chunks: Uint8Array[], size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/** A stream that replays the chunks already read, then carries on with the caller's reader. */
function resumeStream(
  buffered: Uint8Array[],
  reader: ReadableStreamDefaultReader<Uint8Array>,
): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = buffered.shift();
      if (next !== undefined) return controller.enqueue(next);
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(asBytes(value));
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}
