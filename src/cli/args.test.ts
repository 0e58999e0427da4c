import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CommandSpec, formatHelp, parseCommandArgs, portOption, wholeNumberOption } from './args.js';
import { UsageError } from './cli-error.js';

const spec: CommandSpec = {
  name: 'thing',
  summary: 'does a thing',
  usage: 'thing KEY [--port 1]',
  positionals: ['KEY'],
  options: {
    port: { type: 'string', value: 'port', default: '3000', description: 'a port' },
    wait: { type: 'string', value: 'ms', description: 'a budget' },
    json: { type: 'boolean', description: 'as JSON' },
  },
};

function usageMessage(argv: string[]): string {
  try {
    parseCommandArgs(spec, argv);
  } catch (error) {
    assert.ok(error instanceof UsageError);
    assert.equal(error.exitCode, 2);
    return error.message;
  }
  throw new Error(`no error for ${argv.join(' ')}`);
}

describe('parseCommandArgs', () => {
  it('parses values, applies defaults and keeps positionals', () => {
    const args = parseCommandArgs(spec, ['k1', '--wait', '5', '--json']);
    assert.deepEqual(args.positionals, ['k1']);
    assert.equal(args.values.port, '3000');
    assert.equal(args.values.wait, '5');
    assert.equal(args.values.json, true);
    assert.equal(wholeNumberOption(args, 'wait'), 5);
    assert.equal(portOption(args, 'port'), 3000);
  });

  it('turns every mistake into one line naming the culprit', () => {
    assert.equal(usageMessage(['k', '--nope']), 'unknown option --nope (see idemkit thing --help)');
    assert.equal(usageMessage(['k', '--port']), 'option --port needs a value (see idemkit thing --help)');
    assert.equal(usageMessage(['k', '--json=1']), 'option --json takes no value (see idemkit thing --help)');
    assert.equal(usageMessage([]), 'missing KEY (see idemkit thing --help)');
    assert.equal(usageMessage(['k', 'extra']), 'unexpected argument "extra" (see idemkit thing --help)');
    for (const message of [usageMessage(['k', '--nope']), usageMessage(['k', '--wait', '-1'])]) {
      assert.ok(!message.includes('\n'));
    }
    const bad = parseCommandArgs(spec, ['k', '--port', '70000', '--wait', '0']);
    assert.throws(() => portOption(bad, 'port'), /--port must be a port number 0-65535, got "70000"/);
    assert.throws(() => wholeNumberOption(bad, 'wait'), /--wait must be a whole number above 0/);
    assert.equal(wholeNumberOption(bad, 'wait', { allowZero: true }), 0);
  });

  it('lets --help through before anything else is checked', () => {
    assert.equal(parseCommandArgs(spec, ['--help']).help, true);
    assert.equal(parseCommandArgs(spec, ['-h', 'a', 'b', 'c']).help, true);
  });

  it('renders help with every option and its default', () => {
    const help = formatHelp(spec);
    assert.match(help, /^idemkit thing: does a thing$/m);
    assert.match(help, /^usage: idemkit thing KEY \[--port 1\]$/m);
    assert.match(help, /--port <port> +a port \(default: 3000\)/);
    assert.match(help, /--json +as JSON/);
    assert.match(help, /-h, --help +show this help/);
  });
});
