// Runs each framework example exactly as a user would (it imports the built package, `idemkit/*`),
// then proves it: two POSTs with one key run the handler once, and the second is a replay.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type RawResponse, sendOk } from '../src/testing/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const frameworks = ['express', 'fastify', 'hono', 'koa', 'nestjs'] as const;

/** A port nobody listens on right now, for an example that takes its port from PORT. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Running {
  url: string;
  child: ChildProcess;
  output: () => string;
}

async function startExample(name: string): Promise<Running> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', `examples/${name}.ts`], {
    cwd: root,
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  const deadline = Date.now() + 20_000;
  // Ready once it accepts a connection (an HTTP probe could count as a charge on a catch-all route).
  while (!(await accepts(port))) {
    if (exited(child)) throw new Error(`examples/${name}.ts exited early:\n${output}`);
    if (Date.now() > deadline) throw new Error(`examples/${name}.ts did not start:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { url: `http://127.0.0.1:${port}`, child, output: () => output };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

async function stop(running: Running): Promise<void> {
  if (exited(running.child)) return;
  const gone = new Promise((resolve) => running.child.once('exit', resolve));
  running.child.kill('SIGTERM');
  await gone;
}

function charge(url: string, key: string, amount: number): Promise<RawResponse> {
  return sendOk(url, {
    path: '/v1/charges',
    headers: [
      ['content-type', 'application/json'],
      ['idempotency-key', key],
    ],
    body: JSON.stringify({ amount }),
  });
}

describe('examples', { concurrency: true }, () => {
  before(() => {
    const missing = frameworks.filter((name) => !existsSync(`${root}dist/adapters/${name}/index.js`));
    assert.deepEqual(missing, [], 'the examples import the built package: run `npm run build` first');
  });

  const running: Running[] = [];
  after(() => Promise.all(running.map(stop)));

  for (const name of frameworks) {
    it(`examples/${name}.ts runs a charge once and replays it`, async () => {
      const app = await startExample(name);
      running.push(app);
      const key = randomUUID();
      const first = await charge(app.url, key, 100);
      assert.equal(first.status, 201, app.output());
      assert.deepEqual(first.json(), { id: 'ch_1', amount: 100 });
      assert.equal(first.header('idempotency-key'), key);

      const retry = await charge(app.url, key, 100);
      assert.equal(retry.status, 201);
      assert.equal(retry.header('idempotent-replayed'), 'true');
      assert.equal(Buffer.compare(retry.body, first.body), 0, 'the retry is the stored response');

      const next = await charge(app.url, randomUUID(), 5);
      assert.deepEqual(next.json(), { id: 'ch_2', amount: 5 }, 'the handler ran once for the first key');
      await stop(app);
    });
  }
});
