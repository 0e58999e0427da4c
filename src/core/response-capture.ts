import { type OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { isPromiseLike } from './awaitable.js';
import type { Execution } from './execution.js';
import { groupHeaders, responseHeaderPairs } from './node-http.js';
import type { CapturedResponse } from './request.js';

type WriteArgs = [chunk?: unknown, encoding?: unknown, callback?: unknown];
type WriteHeadMethod = (this: ServerResponse, ...args: unknown[]) => ServerResponse;
type WriteMethod = (this: ServerResponse, ...args: WriteArgs) => boolean;
type EndMethod = (this: ServerResponse, ...args: WriteArgs) => ServerResponse;

export interface ResponseCapture {
  /** True once the handler called `end()`. */
  readonly ended: boolean;
  /**
   * The handler failed: release the key, then answer 500 if nothing was sent yet, or cut the
   * connection if a partial response already went out (a client must not mistake it for whole).
   */
  fail(error: unknown): void;
}

/**
 * Watch a response while the handler writes it: every byte passes through to the client as
 * usual, a copy is kept up to `maxResponseBytes`, and `end()` is held back until the engine has
 * stored the response, so a retry that arrives right after can only see the completed record.
 * The response is stored from the handler's `end()` call, not the socket's `'finish'` (which
 * never fires when the client has gone), so a disconnected client's retry still gets a replay.
 *
 * Most responses are captured through `ServerResponse.prototype` (see `prototypeRoute`) rather
 * than by giving each its own methods: V8 makes adding properties to a framework's response
 * object costly (Express swaps its prototype), ~10 µs per request.
 */
export function captureResponse(response: ServerResponse, execution: Execution): ResponseCapture {
  for (const [name, value] of execution.echoHeaders) response.setHeader(name, value);
  const route = prototypeRoute();
  if (reachesRoute(response, route.wrappers) && !route.captures.has(response)) {
    const capture = new Capture(execution, route.writeHead, route.write, route.end);
    route.captures.set(response, capture);
    return new CaptureHandle(response, capture);
  }
  // Calls would not reach the prototype's methods: middleware before idemkit gave this response
  // its own (compression does), or it is under capture already. Wrap what it has, in place, so
  // the handler's bytes are kept before that middleware transforms them.
  const capture = new Capture(
    execution,
    response.writeHead as WriteHeadMethod,
    response.write as WriteMethod,
    response.end as EndMethod,
  );
  response.writeHead = function writeHead(this: ServerResponse, ...args: unknown[]) {
    return capture.writeHead(this, args);
  } as ServerResponse['writeHead'];
  response.write = function write(this: ServerResponse, ...args: WriteArgs) {
    return capture.write(this, args);
  } as ServerResponse['write'];
  response.end = function end(this: ServerResponse, ...args: WriteArgs) {
    return capture.end(this, args);
  } as ServerResponse['end'];
  return new CaptureHandle(response, capture);
}

/**
 * What a captured response's `writeHead`/`write`/`end` calls are handed to. Every copy of this
 * module loaded in one process (the built package beside its sources under tsx, say) shares one
 * prototype route, so this shape and PrototypeRoute's belong to the route's registry name
 * (`routeKey`): change either, change the name, and a newer copy chains over an older one.
 */
interface CaptureHooks {
  writeHead(response: ServerResponse, args: unknown[]): ServerResponse;
  write(response: ServerResponse, args: WriteArgs): boolean;
  end(response: ServerResponse, args: WriteArgs): ServerResponse;
}

interface PrototypeRoute {
  /** Responses under capture; any other response goes straight to the methods below. */
  readonly captures: WeakMap<object, CaptureHooks>;
  /** The methods the route took the place of, which captures send through. */
  readonly writeHead: WriteHeadMethod;
  readonly write: WriteMethod;
  readonly end: EndMethod;
  /** The route's own methods, to tell whether a response's calls reach them. */
  readonly wrappers: { writeHead: WriteHeadMethod; write: WriteMethod; end: EndMethod };
}

const routeKey = Symbol.for('idemkit.capture-route.v1');
let route: PrototypeRoute | undefined;

/**
 * Route `http.ServerResponse.prototype`'s `writeHead`/`write`/`end` through a look-up of the
 * response's capture, once per process (the first capture installs it; a second copy of this
 * module finds it on the prototype and joins it). `write` and `end` are node's
 * `OutgoingMessage` methods: they are shadowed on `ServerResponse.prototype` only, so requests
 * made by `http.request` never pass through here.
 */
function prototypeRoute(): PrototypeRoute {
  if (route) return route;
  const prototype = ServerResponse.prototype as ServerResponse & { [routeKey]?: PrototypeRoute };
  const installed = prototype[routeKey];
  if (installed) {
    route = installed;
    return installed;
  }
  const captures = new WeakMap<object, CaptureHooks>();
  const originalWriteHead = prototype.writeHead as WriteHeadMethod;
  const originalWrite = prototype.write as WriteMethod;
  const originalEnd = prototype.end as EndMethod;
  const wrappers = {
    writeHead: function writeHead(this: ServerResponse, ...args: unknown[]) {
      const capture = captures.get(this);
      return capture ? capture.writeHead(this, args) : originalWriteHead.apply(this, args);
    },
    write: function write(this: ServerResponse, ...args: WriteArgs) {
      const capture = captures.get(this);
      return capture ? capture.write(this, args) : originalWrite.apply(this, args);
    },
    end: function end(this: ServerResponse, ...args: WriteArgs) {
      const capture = captures.get(this);
      return capture ? capture.end(this, args) : originalEnd.apply(this, args);
    },
  };
  route = { captures, writeHead: originalWriteHead, write: originalWrite, end: originalEnd, wrappers };
  Object.defineProperty(prototype, routeKey, { value: route });
  prototype.writeHead = wrappers.writeHead as ServerResponse['writeHead'];
  prototype.write = wrappers.write as ServerResponse['write'];
  prototype.end = wrappers.end as ServerResponse['end'];
  return route;
}

/**
 * Whether the response's `writeHead`/`write`/`end` are the route's: none of its own, and its
 * prototype's are. Asked of the prototype, not of the response: Express swaps every response's
 * prototype, and V8 gives an object whose prototype was swapped a new map for each property
 * added to it afterwards. Every response then has a map of its own, so every load from one
 * misses V8's caches (~0.6 µs each, against ~0.1 µs for an own-property check).
 */
function reachesRoute(response: ServerResponse, wrappers: PrototypeRoute['wrappers']): boolean {
  const prototype = Object.getPrototypeOf(response) as Partial<typeof wrappers> | null;
  for (const name of routedMethods) {
    if (Object.hasOwn(response, name) || prototype?.[name] !== wrappers[name]) return false;
  }
  return true;
}

const routedMethods = ['writeHead', 'write', 'end'] as const;

/** What the adapter holds: the response, and its capture. */
class CaptureHandle implements ResponseCapture {
  readonly #response: ServerResponse;
  readonly #capture: Capture;

  constructor(response: ServerResponse, capture: Capture) {
    this.#response = response;
    this.#capture = capture;
  }

  get ended(): boolean {
    return this.#capture.ended;
  }

  fail(error: unknown): void {
    this.#capture.fail(this.#response, error);
  }
}

/**
 * One response under capture; `writeHead`/`write`/`end` send through the methods it was given.
 * It holds no reference to its response: as a WeakMap value that reached its own key, it would
 * keep every captured response alive through young-generation collections (V8 scavenges treat
 * WeakMap values as strong), and the old generation's collector would have to free them.
 */
class Capture implements CaptureHooks {
  readonly #execution: Execution;
  readonly #writeHead: WriteHeadMethod;
  readonly #write: WriteMethod;
  readonly #end: EndMethod;
  readonly #chunks: Buffer[] = [];
  #size = 0;
  #tooLarge = false;
  #ended = false;
  #failed = false;
  #held: WriteArgs | undefined;
  /** The headers as the head went out through this capture, when it went out before end(). */
  #headers: Array<[string, string]> | undefined;

  constructor(execution: Execution, writeHead: WriteHeadMethod, write: WriteMethod, end: EndMethod) {
    this.#execution = execution;
    this.#writeHead = writeHead;
    this.#write = write;
    this.#end = end;
  }

  get ended(): boolean {
    return this.#ended;
  }

  fail(response: ServerResponse, error: unknown): void {
    if (this.#ended || this.#failed) return;
    this.#failed = true;
    this.#forget(response);
    void this.#execution.abandon('error', { error, status: 500 });
    if (response.headersSent) {
      response.destroy();
      return;
    }
    for (const name of response.getHeaderNames()) response.removeHeader(name);
    response.setHeader('content-type', 'text/plain; charset=utf-8');
    this.#writeHead.call(response, 500);
    this.#end.call(response, 'Internal Server Error');
  }

  // writeHead's own headers never show in getHeaders(); set them first so the capture sees them.
  writeHead(response: ServerResponse, args: unknown[]): ServerResponse {
    let headers: unknown;
    for (let i = 1; i < args.length; i++) {
      const arg = args[i];
      if (arg !== null && typeof arg === 'object') {
        headers = arg;
        break;
      }
    }
    const message = typeof args[1] === 'string' ? args[1] : undefined;
    if (headers) setAll(response, headers as OutgoingHttpHeaders | readonly unknown[]);
    if (this.#ended || this.#headers !== undefined) return this.#writeHead.call(response, args[0], message);
    // Read them now, not at end(): middleware that wrapped this response before idemkit may
    // change them as the head goes out (compression sets Content-Encoding), describing bytes
    // it makes from the ones kept here.
    const pairs = responseHeaderPairs(response);
    const sent = this.#writeHead.call(response, args[0], message);
    this.#headers = pairs;
    return sent;
  }

  write(response: ServerResponse, args: WriteArgs): boolean {
    if (this.#failed) return this.#write.apply(response, args);
    this.#keep(response, args[0], args[1]);
    // The write that completes a declared Content-Length would hand the client its whole answer
    // (and a reason to retry) before the record is completed: send it with end(), after storing.
    if (
      !this.#tooLarge &&
      this.#held === undefined &&
      this.#size >= Number(response.getHeader('content-length') ?? Number.NaN)
    ) {
      this.#held = args;
      return true;
    }
    return this.#write.apply(response, args);
  }

  end(response: ServerResponse, args: WriteArgs): ServerResponse {
    if (this.#ended || this.#failed) return this.#finishWith(response, args);
    this.#ended = true;
    this.#keep(response, args[0], args[1]);
    if (this.#tooLarge) return this.#finishWith(response, args);
    const chunks = this.#chunks;
    const captured: CapturedResponse = {
      status: response.statusCode,
      headers: this.#headers ?? responseHeaderPairs(response),
      body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks),
    };
    // With a synchronous store the response is stored by now, and ends in this same call.
    const stored = this.#execution.finish(captured);
    if (!isPromiseLike(stored)) return this.#finishWith(response, args);
    stored.then(() => this.#finishWith(response, args));
    return response;
  }

  #finishWith(response: ServerResponse, args: WriteArgs): ServerResponse {
    this.#forget(response);
    if (this.#held) this.#write.apply(response, this.#held);
    this.#held = undefined;
    return this.#end.apply(response, args);
  }

  /**
   * Leave the prototype route once the response is done: until a full collection the route's
   * WeakMap would keep this capture, and through its execution the request's whole object graph,
   * alive through every scavenge, and each would be copied into the old generation (~4 KB per
   * request on the benchmark's first executions, and a third of its scavenge time).
   */
  #forget(response: ServerResponse): void {
    route?.captures.delete(response);
  }

  #keep(response: ServerResponse, chunk: unknown, encoding: unknown): void {
    if (this.#tooLarge || chunk === undefined || chunk === null || typeof chunk === 'function') return;
    const encoded = typeof chunk === 'string';
    const bytes = encoded
      ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
      : (chunk as Uint8Array);
    this.#size += bytes.byteLength;
    if (this.#size > this.#execution.maxResponseBytes) {
      this.#tooLarge = true;
      this.#chunks.length = 0;
      void this.#execution.abandon('too-large', { status: response.statusCode });
      return;
    }
    // Copy the caller's bytes: it may reuse its buffer once write() returns. A string's encoded
    // bytes are ours already.
    this.#chunks.push(encoded ? (bytes as Buffer) : Buffer.from(bytes));
  }
}

function setAll(response: ServerResponse, headers: OutgoingHttpHeaders | readonly unknown[]): void {
  if (!Array.isArray(headers)) {
    for (const [name, value] of Object.entries(headers as OutgoingHttpHeaders)) {
      if (value !== undefined) response.setHeader(name, value);
    }
    return;
  }
  // Either [[name, value], …] or the flat [name, value, name, value, …] form.
  const pairs: Array<[string, string]> = Array.isArray(headers[0])
    ? (headers as Array<[string, string]>)
    : Array.from({ length: headers.length / 2 }, (_, i) => [
        String(headers[2 * i]),
        String(headers[2 * i + 1]),
      ]);
  for (const [name, value] of groupHeaders(pairs)) response.setHeader(name, value);
}
