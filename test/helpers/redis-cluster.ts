import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const host = '127.0.0.1';

/** A throwaway 3-master Redis Cluster on loopback ports of its own. */
export interface RedisCluster {
  ports: number[];
  stop(): Promise<void>;
}

/**
 * Start three cluster-enabled redis-servers from the first free ports at or above `firstPort`
 * (each also needs port + 10000 for the cluster bus), join them, and wait for cluster_state:ok.
 * Test files that run at the same time must pass different `firstPort`s.
 */
export async function startRedisCluster(firstPort: number): Promise<RedisCluster> {
  const directory = mkdtempSync(join(tmpdir(), 'idemkit-redis-cluster-'));
  const servers: ChildProcess[] = [];
  const kill = (): void => {
    for (const server of servers) if (server.exitCode === null) server.kill('SIGKILL');
  };
  // Should the test process die without stopping the cluster, do not leave servers behind.
  process.once('exit', kill);
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map(stopServer));
    process.removeListener('exit', kill);
    rmSync(directory, { recursive: true, force: true });
  };
  try {
    const ports = await freePorts(firstPort, 3);
    for (const port of ports) {
      const args = [
        ...['--port', String(port), '--bind', host, '--cluster-enabled', 'yes'],
        ...['--cluster-config-file', join(directory, `nodes-${port}.conf`), '--dir', directory],
        ...['--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning'],
      ];
      servers.push(spawn('redis-server', args, { stdio: 'ignore' }));
    }
    for (const port of ports) {
      await waitFor(`redis-server on port ${port} did not answer PING`, 10_000, async () => {
        return (await redisCli('-p', String(port), 'PING')).trim() === 'PONG';
      });
    }
    await redisCli(
      '--cluster',
      'create',
      ...ports.map((port) => `${host}:${port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    );
    for (const port of ports) {
      await waitFor(`node ${port} did not report cluster_state:ok`, 30_000, async () => {
        return (await redisCli('-p', String(port), 'CLUSTER', 'INFO')).includes('cluster_state:ok');
      });
    }
    return { ports, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Poll `check` until it returns true, or fail naming `what` after `timeoutMs`. */
export async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`test cluster: ${what} within ${timeoutMs} ms`, { cause: lastError });
}

function stopServer(server: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (server.exitCode !== null || server.signalCode !== null) return resolve();
    const force = setTimeout(() => server.kill('SIGKILL'), 3_000);
    server.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    server.kill('SIGTERM');
  });
}

async function redisCli(...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', host, ...args], { timeout: 30_000 });
  return stdout;
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, host, () => probe.close(() => resolve(true)));
  });
}

async function freePorts(firstPort: number, count: number): Promise<number[]> {
  const found: number[] = [];
  for (let port = firstPort; port < firstPort + 400 && found.length < count; port++) {
    if ((await isFree(port)) && (await isFree(port + 10_000))) found.push(port);
  }
  if (found.length < count) throw new Error(`no free loopback ports from ${firstPort} for a test cluster`);
  return found;
}
