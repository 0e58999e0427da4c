import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { StoreSpec } from './store-spec.js';

const workerScript = fileURLToPath(new URL('../cross-process/worker.ts', import.meta.url));

export interface Workers {
  urls: string[];
  /** Total handler executions across all processes. */
  executions(): Promise<number>;
  stop(): Promise<void>;
}

/** Start `count` server processes on one shared store; each listens on its own loopback port. */
export async function startWorkers(spec: StoreSpec, count: number): Promise<Workers> {
  const children: ChildProcess[] = [];
  const stopAll = async () => {
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null) return;
        const exited = once(child, 'exit');
        child.send({ type: 'stop' });
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }),
    );
  };
  try {
    const urls = await Promise.all(
      Array.from({ length: count }, async () => {
        const child = fork(workerScript, [JSON.stringify(spec)], {
          execArgv: ['--import', 'tsx'],
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        });
        children.push(child);
        const [message] = (await Promise.race([
          once(child, 'message'),
          once(child, 'exit').then(([code]) => {
            throw new Error(`worker exited with ${code} before listening`);
          }),
        ])) as [{ url: string }];
        return message.url;
      }),
    );
    return {
      urls,
      async executions() {
        const counts = await Promise.all(
          children.map(async (child) => {
            child.send({ type: 'stats' });
            const [message] = (await once(child, 'message')) as [{ executions: number }];
            return message.executions;
          }),
        );
        return counts.reduce((sum, n) => sum + n, 0);
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
