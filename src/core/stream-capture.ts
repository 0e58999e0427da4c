import { pipeline, Readable, Transform } from 'node:stream';
import type { Execution } from './execution.js';

/** Status and headers of a response whose body is still a stream. */
export interface StreamHead {
  status: number;
  headers: Array<[string, string]>;
}

/**
 * Tee a response body stream, for frameworks that take a stream as the body (koa, fastify): each
 * chunk flows on to the client as it comes, a copy is kept up to `maxResponseBytes`, and the
 * stream's end is held back until the engine has stored the whole response, so a retry that
 * arrives right after the client saw the end can only find the completed record.
 *
 * The key is released instead when the body outgrows the limit (the rest flows through
 * uncopied), when the source fails, and when the consumer goes away before the end (the body
 * is then unknown): a stream never leaves its key in flight.
 */
export function captureStream(source: Readable, execution: Execution, head: StreamHead): Readable {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  let settled = false;

  const tee = new Transform({
    transform(chunk: Buffer | string, encoding, callback) {
      if (!tooLarge) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk;
        size += bytes.length;
        if (size > execution.maxResponseBytes) {
          tooLarge = true;
          settled = true;
          chunks.length = 0;
          void execution.abandon('too-large', { status: head.status });
        } else {
          // Copy: a source may reuse its buffers once they are handed on.
          chunks.push(Buffer.from(bytes));
        }
      }
      callback(null, chunk);
    },
    flush(callback) {
      if (settled) return callback();
      settled = true;
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      Promise.resolve(execution.finish({ status: head.status, headers: head.headers, body })).then(() =>
        callback(),
      );
    },
  });

  pipeline(source, tee, (error) => {
    if (settled) return;
    settled = true;
    const aborted = (error as NodeJS.ErrnoException | undefined)?.code === 'ERR_STREAM_PREMATURE_CLOSE';
    void execution.abandon(aborted ? 'aborted' : 'error', { status: head.status, error });
  });
  return tee;
}

/**
 * A response body as a node Readable when it is a stream of any kind frameworks accept: a node
 * stream, an old-style pipeable one, or a web ReadableStream; undefined for anything else.
 */
export function asReadable(body: unknown): Readable | undefined {
  if (body instanceof Readable) return body;
  if (body instanceof ReadableStream) return Readable.fromWeb(body as never);
  if (typeof (body as { pipe?: unknown } | null)?.pipe === 'function') {
    return new Readable().wrap(body as NodeJS.ReadableStream);
  }
  return undefined;
}
