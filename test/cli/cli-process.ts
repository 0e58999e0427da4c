import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** The CLI's entry point, run from source through tsx (no build step; the same code `dist/` is built from). */
export const cliEntry = fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url));
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
/** tsx's loader by absolute URL, so the CLI also runs from a directory without node_modules. */
export const tsxLoader = import.meta.resolve('tsx');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd?: string;
  /** Run this entry point instead of the repository's (a copy without node_modules). */
  entry?: string;
  timeoutMs?: number;
}

function spawnCli(args: readonly string[], options: CliOptions): ChildProcess {
  return spawn(process.execPath, ['--import', tsxLoader, options.entry ?? cliEntry, ...args], {
    cwd: options.cwd ?? repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Run a one-shot command to completion. */
export async function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const child = spawnCli(args, options);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  return { code, signal, stdout, stderr };
}

/** One JSON log line as the CLI writes it. */
// biome-ignore lint/suspicious/noExplicitAny: log lines carry arbitrary fields that tests read.
export type LogLine = Record<string, any>;

/** A long-running command (demo, proxy) that has started listening. */
export interface RunningCli {
  url: string;
  /** The metrics URL, when `--metrics-port` was given. */
  metricsUrl: string | undefined;
  child: ChildProcess;
  /** Every stdout line so far, parsed as JSON (a line that is not JSON fails the test). */
  logs(): LogLine[];
  stderr(): string;
  /** Resolves when the process exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then wait for the exit. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Start `demo` or `proxy` and wait for its "listening" log line. */
export async function startCli(args: readonly string[], options: CliOptions = {}): Promise<RunningCli> {
  const child = spawnCli(args, options);
  let stdout = '';
  let stderr = '';
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const logs = (): LogLine[] =>
    stdout
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => {
        try {
          return JSON.parse(line) as LogLine;
        } catch {
          throw new Error(`stdout line is not JSON: ${line}`);
        }
      });
  const listening = new Promise<LogLine>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = logs().find((entry) => entry.msg === 'listening');
      if (line) resolve(line);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    void exited.then(({ code }) => reject(new Error(`the CLI exited (${code}) before listening: ${stderr}`)));
    setTimeout(() => reject(new Error(`the CLI did not start within 15 s: ${stderr}`)), 15_000).unref();
  });
  const line = await listening;
  return {
    url: line.url,
    metricsUrl: line.metrics,
    child,
    logs,
    stderr: () => stderr,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Assert-friendly: the text is exactly one non-empty line. */
export function isOneLine(text: string): boolean {
  const lines = text.trimEnd().split('\n');
  return lines.length === 1 && lines[0]!.trim() !== '';
}

/** Poll until `condition` holds (stdout and stderr are separate pipes: their order is not guaranteed). */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
