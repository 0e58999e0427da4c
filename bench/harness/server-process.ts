import { type ChildProcess, fork } from 'node:child_process';
import type { HarnessMessage, ServerMessage, ServerStats, VariantName } from '../shared/protocol.js';
import { median } from './statistics.js';

export interface ServerProcessOptions {
  /** The compiled server entry (see build.ts), run with plain node. */
  entry: string;
  variant: VariantName;
  /** Size of the handler's JSON body, bytes (0: a small charge). */
  responseBytes: number;
  /** Write a V8 CPU profile of the server into this directory when it exits. */
  cpuProfileDir?: string;
  /** Run the server on these CPUs only (a `taskset -c` list), from its first instruction. */
  cpus?: string;
  /**
   * Run the server under valgrind's callgrind, counting nothing until `callgrind_control -i on`,
   * into files named by this pattern (`%p`: the pid), one per thread (see instructions.ts).
   */
  callgrindOutFile?: string;
}

/**
 * A server under test in its own process (forked with an IPC channel), so the load generator
 * in the harness process never shares its event loop.
 */
export class ServerProcess {
  readonly #child: ChildProcess;
  readonly #exited: Promise<number | null>;
  #port = 0;

  private constructor(child: ChildProcess) {
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  static async start(options: ServerProcessOptions): Promise<ServerProcess> {
    const execArgv = options.cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfileDir] : [];
    // Pinned: taskset execs node, which inherits the IPC channel, so every thread starts pinned.
    // Valgrind runs node in its own process, which keeps the channel too.
    const wrapper = options.cpus
      ? { execPath: 'taskset', args: ['-c', options.cpus, process.execPath] }
      : options.callgrindOutFile
        ? {
            execPath: 'valgrind',
            args: [
              '--tool=callgrind',
              '--separate-threads=yes',
              '--instr-atstart=no',
              `--callgrind-out-file=${options.callgrindOutFile}`,
              '--log-file=/dev/null',
              process.execPath,
            ],
          }
        : undefined;
    const child = fork(options.entry, [options.variant], {
      ...(wrapper ? { execPath: wrapper.execPath } : {}),
      execArgv: [...(wrapper?.args ?? []), ...execArgv],
      env: { ...process.env, NODE_ENV: 'production', BENCH_RESPONSE_BYTES: String(options.responseBytes) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const server = new ServerProcess(child);
    // Under valgrind, node starts in seconds rather than milliseconds.
    const ready = await server.#next(options.callgrindOutFile ? 120_000 : 30_000);
    if (ready.type !== 'ready') {
      child.kill();
      throw new Error(
        `server ${options.variant} did not start: ${ready.type === 'failed' ? ready.message : ready.type}`,
      );
    }
    server.#port = ready.port;
    return server;
  }

  get pid(): number {
    return this.#child.pid ?? 0;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}/v1/charges`;
  }

  async stats(): Promise<ServerStats> {
    const reply = await this.#ask({ type: 'stats' });
    if (reply.type !== 'stats') throw new Error(`unexpected reply ${reply.type}`);
    return reply.stats;
  }

  /**
   * How far the server's clock (`performance.timeOrigin + performance.now()`) is ahead of this
   * process's, ms: the median of a few IPC round trips, each assumed symmetric.
   */
  async clockOffset(): Promise<number> {
    const offsets: number[] = [];
    for (let i = 0; i < 9; i++) {
      const sent = performance.timeOrigin + performance.now();
      const reply = await this.#ask({ type: 'clock' });
      const received = performance.timeOrigin + performance.now();
      if (reply.type === 'clock') offsets.push(reply.now - (sent + received) / 2);
    }
    return median(offsets);
  }

  /** Zero the per-phase counters (requests, executions, store calls), e.g. after a warm-up. */
  async reset(): Promise<void> {
    await this.#ask({ type: 'reset' });
  }

  /** Ask the server to clean up and exit; kill it if it takes more than 30 s. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null) return;
    this.#child.send({ type: 'shutdown' } satisfies HarnessMessage);
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 30_000);
    await this.#exited;
    clearTimeout(timer);
  }

  #ask(message: HarnessMessage): Promise<ServerMessage> {
    const reply = this.#next(30_000);
    this.#child.send(message);
    return reply;
  }

  #next(timeoutMs: number): Promise<ServerMessage> {
    return new Promise((resolve, reject) => {
      const onMessage = (message: ServerMessage): void => {
        cleanup();
        resolve(message);
      };
      const onExit = (code: number | null): void => {
        cleanup();
        reject(new Error(`server exited (code ${code}) before answering`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`server did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.#child.off('message', onMessage);
        this.#child.off('exit', onExit);
      };
      this.#child.on('message', onMessage);
      this.#child.once('exit', onExit);
    });
  }
}
