import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { sendOk } from '../../src/testing/index.js';
import { close, listen } from '../helpers/listen.js';
import { type CliResult, isOneLine, repoRoot, runCli, startCli, waitFor } from './cli-process.js';

const temp = mkdtempSync(join(tmpdir(), 'idemkit-cli-failures-'));
after(() => rmSync(temp, { recursive: true, force: true }));

/** A port nothing listens on: taken from the system, then given back. */
async function freePort(): Promise<number> {
  const server = createServer();
  await listen(server);
  const { port } = server.address() as AddressInfo;
  await close(server);
  return port;
}

function assertOneLineFailure(result: CliResult, code: number, pattern: RegExp, label: string): void {
  assert.equal(result.code, code, `${label}: exit ${result.code}, stderr: ${result.stderr}`);
  assert.ok(isOneLine(result.stderr), `${label}: expected one line on stderr, got:\n${result.stderr}`);
  assert.doesNotMatch(result.stderr, /^\s+at /m, `${label}: a stack trace leaked`);
  assert.match(result.stderr.trimEnd(), pattern, label);
}

/** Every command, with the arguments it needs besides --store. */
const commands: Array<[string, string[]]> = [
  ['demo', ['--port', '0']],
  ['proxy', ['--port', '0', '--upstream', 'http://127.0.0.1:9']],
  ['setup', []],
  ['inspect', ['some-key']],
  ['purge', []],
];

describe('idemkit failure modes: one clear line, non-zero exit', () => {
  it('an unreachable store, for every command that connects', async () => {
    const stores: Array<[string, RegExp]> = [
      [
        'postgres://postgres@127.0.0.1:1/x',
        /cannot reach the postgres store at postgres:\/\/postgres@127\.0\.0\.1:1\/x: .*ECONNREFUSED/,
      ],
      [
        'redis://127.0.0.1:1',
        /cannot reach the redis store at redis:\/\/127\.0\.0\.1:1: connect ECONNREFUSED/,
      ],
      [
        'mysql://root:secret@127.0.0.1:1/test',
        /cannot reach the mysql store at mysql:\/\/root:\*\*\*@127\.0\.0\.1:1\/test: .*ECONNREFUSED/,
      ],
    ];
    // Every command against an unreachable PostgreSQL; each other server kind through one command.
    const cases: Array<[string, string[], string, RegExp]> = [
      ...commands.map(([command, args]): [string, string[], string, RegExp] => [
        command,
        args,
        ...stores[0]!,
      ]),
      ['setup', [], ...stores[1]!],
      ['proxy', commands[1]![1], ...stores[2]!],
    ];
    const runs = cases.map(async ([command, args, store, pattern]) => {
      const result = await runCli([command, ...args, '--store', store]);
      assertOneLineFailure(result, 1, pattern, `${command} ${store}`);
      assert.doesNotMatch(result.stderr, /secret/, 'the password must not be printed');
    });
    await Promise.all(runs);
  });

  it('a bad store URL, for every command', async () => {
    const all: Array<[string, string[]]> = [...commands, ['schema', []]];
    const runs = [
      ...all.map(([command, args]) =>
        runCli([command, ...args, '--store', 'ftp://x']).then((result) =>
          assertOneLineFailure(result, 2, /unsupported scheme "ftp:"/, `${command} ftp://x`),
        ),
      ),
      ...(['demo', 'schema'] as const).map((command) =>
        runCli([command, '--store', 'nonsense']).then((result) =>
          assertOneLineFailure(result, 2, /"nonsense" is not a store URL/, `${command} nonsense`),
        ),
      ),
      ...(['setup', 'purge'] as const).map((command) =>
        runCli([command, '--store', 'postgres://h/db?table=x;drop']).then((result) =>
          assertOneLineFailure(result, 2, /table must be/, `${command} bad table`),
        ),
      ),
    ];
    await Promise.all(runs);
  });

  it('a missing driver names the package to install', async () => {
    // A copy of the sources in a directory with no node_modules above it: the drivers cannot be found.
    const copy = join(temp, 'no-drivers');
    cpSync(join(repoRoot, 'src'), join(copy, 'src'), {
      recursive: true,
      filter: (path) => !path.endsWith('.test.ts'),
    });
    writeFileSync(join(copy, 'package.json'), '{ "type": "module", "version": "0.0.0" }\n');
    const entry = join(copy, 'src/cli/index.ts');
    const cases: Array<[string[], string]> = [
      [['demo', '--port', '0'], 'better-sqlite3'],
      [['setup', '--store', 'sqlite:./x.db'], 'better-sqlite3'],
      [['proxy', '--upstream', 'http://127.0.0.1:9', '--store', 'postgres://127.0.0.1/x'], 'pg'],
      [['purge', '--store', 'redis://127.0.0.1'], 'ioredis'],
      [['inspect', 'k', '--store', 'mysql://127.0.0.1/x'], 'mysql2'],
    ];
    await Promise.all(
      cases.map(async ([args, driver]) => {
        const result = await runCli(args, { entry, cwd: copy });
        assertOneLineFailure(
          result,
          1,
          new RegExp(`needs the "${driver}" package.*npm install ${driver}`),
          args.join(' '),
        );
      }),
    );
    // schema needs no driver at all.
    const schema = await runCli(['schema', '--store', 'postgres://127.0.0.1/x'], { entry, cwd: copy });
    assert.equal(schema.code, 0, schema.stderr);
    assert.match(schema.stdout, /CREATE TABLE IF NOT EXISTS "idemkit_records"/);
  });

  it('a port in use', async () => {
    const taken = createServer();
    await listen(taken);
    const { port } = taken.address() as AddressInfo;
    try {
      const [demo, proxy, metrics] = await Promise.all([
        runCli(['demo', '--port', String(port), '--store', 'memory:']),
        runCli(['proxy', '--port', String(port), '--upstream', 'http://127.0.0.1:9']),
        runCli(['proxy', '--port', '0', '--metrics-port', String(port), '--upstream', 'http://127.0.0.1:9']),
      ]);
      assertOneLineFailure(demo, 1, new RegExp(`port ${port} on 127.0.0.1 is already in use`), 'demo');
      assertOneLineFailure(proxy, 1, new RegExp(`port ${port} on 127.0.0.1 is already in use`), 'proxy');
      assertOneLineFailure(
        metrics,
        1,
        new RegExp(`metrics: port ${port} on 127.0.0.1 is already in use`),
        'metrics',
      );
    } finally {
      await close(taken);
    }
  });

  it('an upstream that is down: the proxy answers 502 problem+json and stores nothing', async () => {
    const port = await freePort();
    const proxy = await startCli(['proxy', '--port', '0', '--upstream', `http://127.0.0.1:${port}`]);
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        const response = await sendOk(proxy.url, {
          path: '/v1/charges',
          headers: [['idempotency-key', 'down']],
          body: '{}',
        });
        assert.equal(response.status, 502);
        assert.equal(response.header('content-type'), 'application/problem+json');
        assert.equal(response.json().type, 'https://idemkit.dev/problems/proxy-upstream-unavailable');
        assert.equal(response.header('idempotent-replayed'), undefined, 'a 502 must not be stored');
      }
      const passed = await sendOk(proxy.url, { method: 'GET', path: '/health' });
      assert.equal(passed.status, 502);
      // The log travels by pipe, the response by socket: the line may arrive after the response.
      const unreachable = () => proxy.logs().filter((line) => line.msg === 'upstream unreachable');
      await waitFor(() => unreachable().length >= 3, 'the third "upstream unreachable" line');
      await new Promise((resolve) => setTimeout(resolve, 50));
      const errors = unreachable();
      assert.equal(errors.length, 3);
      assert.equal(errors[0]!.level, 'error');
    } finally {
      await proxy.stop();
    }
  });

  it('bad flags and arguments exit 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['demo', '--bogus'], /^idemkit demo: unknown option --bogus \(see idemkit demo --help\)$/],
      [['proxy', '--port'], /option --port needs a value/],
      [['demo', '--port', 'eighty'], /--port must be a port number/],
      [['demo', '--skip-setup=yes'], /option --skip-setup takes no value/],
      [['demo', '--log-level', 'loud'], /--log-level must be one of debug, info, warn, error, silent/],
      [
        ['demo', '--shutdown-timeout', '-5'],
        /option --shutdown-timeout needs a value; for one that starts with "-"/,
      ],
      [['demo', '--shutdown-timeout=-5'], /--shutdown-timeout must be a whole number/],
      [['proxy'], /option --upstream is required/],
      [['proxy', '--upstream', 'ftp://x'], /--upstream must be an http:\/\/ or https:\/\/ URL/],
      [
        ['proxy', '--upstream', 'http://127.0.0.1:9', '--lease', '100000000'],
        /lease.*must be shorter than ttl/,
      ],
      [['schema'], /option --store is required/],
      [['setup', 'extra', '--store', 'memory:'], /unexpected argument "extra"/],
      [['inspect', '--store', 'memory:'], /missing KEY/],
      [['inspect', 'a b', '--store', 'memory:'], /KEY is not a valid Idempotency-Key/],
      [['inspect', 'k', '--store', 'memory:'], /a memory: store lives inside the process that uses it/],
      [['help', 'bogus'], /unknown command "bogus"/],
    ];
    await Promise.all(
      cases.map(async ([args, pattern]) =>
        assertOneLineFailure(await runCli(args), 2, pattern, args.join(' ')),
      ),
    );
  });

  it('an unknown command exits 2; no command prints help and exits 2', async () => {
    const [unknown, none, help, commandHelp, helpCommand] = await Promise.all([
      runCli(['deploy']),
      runCli([]),
      runCli(['--help']),
      runCli(['proxy', '--help']),
      runCli(['help', 'inspect']),
    ]);
    assertOneLineFailure(
      unknown,
      2,
      /^idemkit: unknown command "deploy" \(commands: demo, proxy, schema, setup, inspect, purge\)$/,
      'deploy',
    );
    assert.equal(none.code, 2);
    assert.match(none.stderr, /usage: idemkit <command>/);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /commands:\n {2}demo/);
    assert.equal(commandHelp.code, 0);
    assert.match(commandHelp.stdout, /--upstream <url>/);
    assert.match(commandHelp.stdout, /--shutdown-timeout <ms> .*\(default: 10000\)/);
    assert.equal(helpCommand.code, 0);
    assert.match(helpCommand.stdout, /usage: idemkit inspect KEY --store URL/);
  });

  it('a missing SQLite file or table, and a key with no record, for inspect and purge', async () => {
    const missing = join(temp, 'nope.db');
    const empty = join(temp, 'empty.db');
    await runCli(['schema', '--store', `sqlite:${empty}`]); // creates nothing
    const [noFile, inspectNoFile] = await Promise.all([
      runCli(['purge', '--store', `sqlite:${missing}`]),
      runCli(['inspect', 'k', '--store', `sqlite:${missing}`]),
    ]);
    assertOneLineFailure(noFile, 1, /cannot open the SQLite file .*nope\.db/, 'purge, no file');
    assertOneLineFailure(inspectNoFile, 1, /cannot open the SQLite file/, 'inspect, no file');
    // A file without the table (demo's charges only): point at the fix.
    const demo = await startCli(['demo', '--port', '0', '--store', `sqlite:${empty}?table=other_records`]);
    await demo.stop();
    const noTable = await runCli(['purge', '--store', `sqlite:${empty}`]);
    assertOneLineFailure(noTable, 1, /no such table.*idemkit setup --store sqlite:/, 'purge, no table');
    const setup = await runCli(['setup', '--store', `sqlite:${empty}`]);
    assert.equal(setup.code, 0, setup.stderr);
    const noRecord = await runCli(['inspect', 'k', '--store', `sqlite:${empty}`]);
    assertOneLineFailure(
      noRecord,
      1,
      /no record for key "k" \(POST \/v1\/charges, no scope; storage key [0-9a-f]{64}\)/,
      'no record',
    );
  });
});
