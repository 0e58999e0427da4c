#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { formatHelp, parseCommandArgs } from './args.js';
import { CliError, messageOf, UsageError } from './cli-error.js';
import type { Command } from './command.js';
import { demo } from './demo.js';
import { inspect } from './inspect.js';
import { proxy } from './proxy.js';
import { purge } from './purge.js';
import { schema } from './schema.js';
import { setup } from './setup.js';

const commands: Record<string, Command> = { demo, proxy, schema, setup, inspect, purge };

function generalHelp(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  return [
    'idemkit: make retried HTTP requests safe with Idempotency-Key',
    '',
    'usage: idemkit <command> [options]',
    '',
    'commands:',
    ...Object.values(commands).map(({ spec }) => `  ${spec.name.padEnd(width)}  ${spec.summary}`),
    '',
    'idemkit <command> --help (or idemkit help <command>) explains one command.',
    'Stores are named by URL: memory:, sqlite:PATH, postgres://…, redis://…, mysql://…',
    '(the driver - better-sqlite3, pg, ioredis or mysql2 - is loaded only when used).',
    '',
  ].join('\n');
}

function version(): string {
  // package.json sits two levels up from both src/cli and dist/cli.
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  return String(manifest.version);
}

function lookup(name: string): Command {
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command)
    throw new UsageError(`unknown command "${name}" (commands: ${Object.keys(commands).join(', ')})`);
  return command;
}

/** Run the command line; resolves once a one-shot command is done or a server is listening. */
export async function main(argv: readonly string[]): Promise<void> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    process.stderr.write(generalHelp());
    process.exitCode = 2;
    return;
  }
  if (first === '--help' || first === '-h') {
    process.stdout.write(generalHelp());
    return;
  }
  if (first === '--version' || first === '-v') {
    process.stdout.write(`${version()}\n`);
    return;
  }
  if (first === 'help') {
    if (rest.length > 1) throw new UsageError(`help takes one command name, got ${rest.length}`);
    process.stdout.write(rest[0] === undefined ? generalHelp() : formatHelp(lookup(rest[0]).spec));
    return;
  }
  if (first.startsWith('-')) throw new UsageError(`expected a command before ${first} (see idemkit --help)`);
  const command = lookup(first);
  const args = parseCommandArgs(command.spec, rest);
  if (args.help) {
    process.stdout.write(formatHelp(command.spec));
    return;
  }
  await command.run(args);
}

function prefix(argv: readonly string[]): string {
  const name = argv[0];
  return name !== undefined && Object.hasOwn(commands, name) ? `idemkit ${name}` : 'idemkit';
}

const argv = process.argv.slice(2);
main(argv).catch((error: unknown) => {
  const exitCode = error instanceof CliError ? error.exitCode : 1;
  process.stderr.write(
    `${prefix(argv)}: ${error instanceof CliError ? error.message : `unexpected error: ${messageOf(error)}`}\n`,
  );
  // Exit now: a half-opened driver (a pool, a reconnecting client) must not keep the process alive.
  process.exit(exitCode);
});
