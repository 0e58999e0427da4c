import { randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { benchHeaders, type ChargeBody } from '../shared/protocol.js';
import { chargeBody } from './load.js';
import { latencySummary } from './statistics.js';

export interface DuplicatesOptions {
  url: string;
  /** Keys measured (after `warmupGroups` unmeasured ones). */
  groups: number;
  warmupGroups: number;
  /** Identical requests sent together per key. */
  duplicates: number;
  /** Keys in flight at once. */
  concurrentGroups: number;
  /** How long the handler works before answering, so that duplicates find the original in flight. */
  handlerDelayMs: number;
  /** How far the server's clock is ahead of the harness's, ms (subtracted from its `completedAt`). */
  clockOffset: number;
}

export interface DuplicatesResult {
  requests: number;
  /** Responses produced by running the handler for that very request. */
  originals: number;
  /** Responses to requests that did not run the handler (every other request of a group). */
  waiters: number;
  /** Waiters answered 201 with the original's body (the only correct outcome). */
  waitersReplayed: number;
  /** Waiters answered anything else, by status. */
  waitersFailed: Record<string, number>;
  /** Keys whose handler ran more than once, as seen by the client (several bodies per key). */
  keysRunSeveralTimes: number;
  /** The server's clock minus the harness's, ms, as measured and corrected for. */
  clockOffset: number;
  /** ms from the handler's answer (its `completedAt`, server clock aligned to ours) to a replayed waiter's last byte. */
  waiterLagAfterCompletion: ReturnType<typeof latencySummary>;
  /** ms from the original's response reaching the client to a replayed waiter's (one clock). */
  waiterLagAfterOriginal: ReturnType<typeof latencySummary>;
  /** ms from the handler's answer to the original's own response arriving (store write + transfer). */
  originalLagAfterCompletion: ReturnType<typeof latencySummary>;
}

interface Reply {
  requestId: string;
  status: number;
  body: ChargeBody | undefined;
  receivedAt: number;
}

const now = (): number => performance.timeOrigin + performance.now();

/**
 * Concurrent duplicates: for each key, `duplicates` identical requests leave together on separate
 * keep-alive connections while the handler takes `handlerDelayMs`; exactly one should run the
 * handler and the others should receive its response as soon as it is stored.
 *
 * Arrival is timed when a response's last byte is read from its socket, by the minimal client
 * below rather than node's http client: with 8 responses landing at once, the http client's
 * parsing and stream events put ~0.4 ms (p50) between the bytes arriving and the last `'end'`,
 * a delay of the measuring process that would be counted as idemkit's.
 */
export async function runDuplicates(options: DuplicatesOptions): Promise<DuplicatesResult> {
  const url = new URL(options.url);
  const workers = await Promise.all(
    Array.from({ length: options.concurrentGroups }, () =>
      Promise.all(Array.from({ length: options.duplicates }, () => Connection.open(url))),
    ),
  );
  try {
    await runGroups(options, workers, options.warmupGroups);
    return summarize(await runGroups(options, workers, options.groups), options.clockOffset);
  } finally {
    for (const connection of workers.flat()) connection.close();
  }
}

async function runGroups(
  options: DuplicatesOptions,
  workers: Connection[][],
  groups: number,
): Promise<Reply[][]> {
  const results: Reply[][] = [];
  let started = 0;
  const worker = async (connections: Connection[]): Promise<void> => {
    while (started < groups) {
      started++;
      const key = randomUUID();
      results.push(await Promise.all(connections.map((connection) => send(options, connection, key))));
    }
  };
  await Promise.all(workers.map(worker));
  return results;
}

async function send(options: DuplicatesOptions, connection: Connection, key: string): Promise<Reply> {
  const requestId = randomUUID();
  const { status, body, receivedAt } = await connection.post({
    'content-type': 'application/json',
    'idempotency-key': key,
    [benchHeaders.delay]: String(options.handlerDelayMs),
    [benchHeaders.requestId]: requestId,
  });
  const parsed = status === 201 ? (JSON.parse(body.toString('utf8')) as ChargeBody) : undefined;
  return { requestId, status, body: parsed, receivedAt };
}

/**
 * One keep-alive HTTP/1.1 connection sending the charge body, one request at a time, and reading
 * responses framed by `Content-Length` (every variant's responses are; anything else is an error).
 */
class Connection {
  readonly #socket: Socket;
  readonly #url: URL;
  #pending: ((error: Error | undefined, chunk?: Buffer) => void) | undefined;

  private constructor(socket: Socket, url: URL) {
    this.#socket = socket;
    this.#url = url;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#pending?.(undefined, chunk));
    socket.on('close', () => this.#pending?.(new Error('the server closed the connection')));
    socket.on('error', (error) => this.#pending?.(error));
  }

  static open(url: URL): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname);
      socket.once('connect', () => resolve(new Connection(socket, url)));
      socket.once('error', reject);
    });
  }

  post(headers: Record<string, string>): Promise<{ status: number; body: Buffer; receivedAt: number }> {
    let head = `POST ${this.#url.pathname} HTTP/1.1\r\nhost: ${this.#url.host}\r\ncontent-length: ${Buffer.byteLength(chargeBody)}\r\n`;
    for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
    return new Promise((resolve, reject) => {
      let received: Buffer = Buffer.alloc(0);
      this.#pending = (error, chunk) => {
        const receivedAt = now();
        if (error || !chunk) {
          this.#pending = undefined;
          reject(error);
          return;
        }
        received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
        const headEnd = received.indexOf('\r\n\r\n');
        if (headEnd === -1) return;
        const headText = received.subarray(0, headEnd).toString('latin1');
        const declared = /\r\ncontent-length:[ \t]*(\d+)/i.exec(headText)?.[1];
        if (declared === undefined) {
          this.#pending = undefined;
          reject(new Error(`a response without Content-Length: ${headText.split('\r\n', 1)[0]}`));
          return;
        }
        const bodyStart = headEnd + 4;
        const bodyEnd = bodyStart + Number(declared);
        if (received.length < bodyEnd) return;
        this.#pending = undefined;
        const status = Number(headText.slice(9, 12));
        resolve({ status, body: received.subarray(bodyStart, bodyEnd), receivedAt });
      };
      this.#socket.write(`${head}\r\n${chargeBody}`);
    });
  }

  close(): void {
    this.#socket.destroy();
  }
}

function summarize(groups: Reply[][], clockOffset: number): DuplicatesResult {
  const afterCompletion: number[] = [];
  const afterOriginal: number[] = [];
  const originalLag: number[] = [];
  const waitersFailed: Record<string, number> = {};
  let requests = 0;
  let originals = 0;
  let waiters = 0;
  let waitersReplayed = 0;
  let keysRunSeveralTimes = 0;
  for (const replies of groups) {
    requests += replies.length;
    const own = replies.filter((reply) => reply.body?.requestId === reply.requestId);
    originals += own.length;
    if (own.length > 1) keysRunSeveralTimes++;
    const original = own.length === 1 ? own[0] : undefined;
    if (original?.body) originalLag.push(original.receivedAt - (original.body.completedAt - clockOffset));
    for (const reply of replies) {
      if (own.includes(reply)) continue;
      waiters++;
      const replayed = reply.status === 201 && original !== undefined && reply.body?.id === original.body?.id;
      if (!replayed || !reply.body || !original) {
        const label = reply.status === 201 ? '201 (another body)' : String(reply.status);
        waitersFailed[label] = (waitersFailed[label] ?? 0) + 1;
        continue;
      }
      waitersReplayed++;
      afterCompletion.push(reply.receivedAt - (reply.body.completedAt - clockOffset));
      afterOriginal.push(reply.receivedAt - original.receivedAt);
    }
  }
  return {
    requests,
    originals,
    waiters,
    waitersReplayed,
    waitersFailed,
    keysRunSeveralTimes,
    clockOffset,
    waiterLagAfterCompletion: latencySummary(afterCompletion),
    waiterLagAfterOriginal: latencySummary(afterOriginal),
    originalLagAfterCompletion: latencySummary(originalLag),
  };
}
