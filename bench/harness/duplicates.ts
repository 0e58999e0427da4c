import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
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
 */
export async function runDuplicates(options: DuplicatesOptions): Promise<DuplicatesResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.duplicates * options.concurrentGroups });
  try {
    await runGroups(options, agent, options.warmupGroups);
    return summarize(await runGroups(options, agent, options.groups), options.clockOffset);
  } finally {
    agent.destroy();
  }
}

async function runGroups(options: DuplicatesOptions, agent: Agent, groups: number): Promise<Reply[][]> {
  const results: Reply[][] = [];
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < groups) {
      started++;
      const key = randomUUID();
      const sends = Array.from({ length: options.duplicates }, () => send(options, agent, key));
      results.push(await Promise.all(sends));
    }
  };
  await Promise.all(Array.from({ length: options.concurrentGroups }, worker));
  return results;
}

function send(options: DuplicatesOptions, agent: Agent, key: string): Promise<Reply> {
  const requestId = randomUUID();
  return new Promise((resolve, reject) => {
    const outgoing = request(
      options.url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(chargeBody),
          'idempotency-key': key,
          [benchHeaders.delay]: String(options.handlerDelayMs),
          [benchHeaders.requestId]: requestId,
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const receivedAt = now();
          const status = response.statusCode ?? 0;
          let body: ChargeBody | undefined;
          if (status === 201) body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ChargeBody;
          resolve({ requestId, status, body, receivedAt });
        });
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(chargeBody);
  });
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
