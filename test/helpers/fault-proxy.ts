/**
 * A TCP proxy on 127.0.0.1 that breaks connections on purpose, for tests of clients that retry.
 * Each accepted connection gets one fault, chosen by `choose(connectionIndex)`; `seededFaults`
 * makes that choice reproducible and bounded.
 */

import type { AddressInfo } from 'node:net';
import { connect, createServer, type Socket } from 'node:net';

export type FaultKind =
  /** Forward both ways untouched. */
  | 'pass'
  /** Forward both ways, each chunk `latency` ms late. */
  | 'latency'
  /** RST the client as soon as it connects: the request never reaches the server. */
  | 'reset-on-connect'
  /**
   * Forward the request, then (after `cutAfter` ms, or as soon as the server starts answering) RST
   * the client and close the upstream: the server usually sees its client vanish mid-handler.
   */
  | 'reset-after-request'
  /** Forward the request; when the server's first response bytes arrive, close the client instead. */
  | 'drop-response';

export const faultKinds: readonly FaultKind[] = [
  'pass',
  'latency',
  'reset-on-connect',
  'reset-after-request',
  'drop-response',
];

export interface FaultProxyOptions {
  upstreamPort: number;
  upstreamHost?: string;
  /** The fault for the n-th accepted connection (0-based). */
  choose: (connection: number) => FaultKind;
  /** ms each chunk is held in `latency` mode. Default 20. */
  latency?: number;
  /** ms after the request reaches the server that `reset-after-request` cuts. Default 2. */
  cutAfter?: number;
}

export interface FaultProxy {
  port: number;
  /** Connections per fault kind so far. */
  readonly counts: Record<FaultKind, number>;
  close(): Promise<void>;
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const { upstreamPort, upstreamHost = '127.0.0.1', choose, latency = 20, cutAfter = 2 } = options;
  const counts = Object.fromEntries(faultKinds.map((kind) => [kind, 0])) as Record<FaultKind, number>;
  const sockets = new Set<Socket>();
  let accepted = 0;

  const server = createServer((client) => {
    const kind = choose(accepted++);
    counts[kind]++;
    track(client);
    if (kind === 'reset-on-connect') return void client.resetAndDestroy();

    const upstream = track(connect(upstreamPort, upstreamHost));
    // A vanished client takes the upstream with it (the server sees the disconnect). A closed
    // upstream ends the client only after what is still in flight to it (late chunks included).
    client.on('close', () => upstream.destroy());
    const lag = kind === 'latency' ? latency : 0;
    upstream.on('close', () => setTimeout(() => client.end(), lag));

    switch (kind) {
      case 'pass':
        client.pipe(upstream);
        upstream.pipe(client);
        break;
      case 'latency':
        forwardLate(client, upstream, latency);
        forwardLate(upstream, client, latency);
        break;
      case 'drop-response':
        client.pipe(upstream);
        // Reading the upstream without forwarding it: the answer exists, the client never gets it.
        upstream.once('data', () => client.destroy());
        break;
      case 'reset-after-request': {
        client.pipe(upstream);
        const cut = () => {
          if (!client.destroyed) client.resetAndDestroy();
          upstream.destroy();
        };
        let requested = false;
        let connected = false;
        const arm = () => {
          if (requested && connected) setTimeout(cut, cutAfter);
        };
        client.once('data', () => {
          requested = true;
          arm();
        });
        upstream.once('connect', () => {
          connected = true;
          arm();
        });
        upstream.once('data', cut);
        break;
      }
    }
  });

  function track(socket: Socket): Socket {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    return socket;
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    counts,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Forwards `from` to `to` with every chunk (and the end) delayed by `ms`, order kept. */
function forwardLate(from: Socket, to: Socket, ms: number): void {
  from.on('data', (chunk) => {
    setTimeout(() => {
      if (!to.destroyed) to.write(chunk);
    }, ms);
  });
  from.on('end', () => {
    setTimeout(() => {
      if (!to.destroyed) to.end();
    }, ms);
  });
}

export interface SeededFaultsOptions {
  seed: number;
  /** Relative weight of each kind; kinds left out never happen. */
  weights: Partial<Record<FaultKind, number>>;
  /** After this many connections with a fault other than `pass`/`latency`, every connection passes. */
  maxFaults: number;
}

/** A reproducible `choose` for {@link startFaultProxy}: weighted picks from a seeded generator. */
export function seededFaults({
  seed,
  weights,
  maxFaults,
}: SeededFaultsOptions): (connection: number) => FaultKind {
  const random = mulberry32(seed);
  const entries = faultKinds.flatMap((kind) => {
    const weight = weights[kind] ?? 0;
    return weight > 0 ? [[kind, weight] as const] : [];
  });
  const total = entries.reduce((sum, [, weight]) => sum + weight, 0);
  let faults = 0;
  return () => {
    let pick = random() * total;
    let chosen: FaultKind = 'pass';
    for (const [kind, weight] of entries) {
      chosen = kind;
      pick -= weight;
      if (pick < 0) break;
    }
    if (chosen === 'pass' || chosen === 'latency') return chosen;
    if (faults >= maxFaults) return 'pass';
    faults++;
    return chosen;
  };
}

/** A tiny seeded PRNG (Tommy Ettinger's mulberry32): good enough to pick faults, and repeatable. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
