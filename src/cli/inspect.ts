import { storageKeyOf } from '../core/fingerprint.js';
import { parseKeyHeader } from '../core/key.js';
import { optionalString, requiredString, wholeNumberOption } from './args.js';
import { CliError, UsageError } from './cli-error.js';
import type { Command } from './command.js';
import { credentialScope } from './credential-scope.js';
import { withStore } from './one-shot.js';
import { formatRecord, recordData } from './record-view.js';
import { parseStoreUrl } from './store-url.js';

export const inspect: Command = {
  spec: {
    name: 'inspect',
    summary: 'show the record an idempotency key maps to',
    usage: 'inspect KEY --store URL [--scope S | --credential VALUE] [--method POST] [--path /v1/charges]',
    positionals: ['KEY'],
    options: {
      store: { type: 'string', value: 'url', description: 'the store to look in (required)' },
      scope: {
        type: 'string',
        value: 'scope',
        default: '',
        description: "the tenant scope, as the app's scope() returned it",
      },
      credential: {
        type: 'string',
        value: 'value',
        description:
          'instead of --scope: the Authorization (or --scope-header) value; the demo and proxy scope by its SHA-256',
      },
      method: { type: 'string', value: 'method', default: 'POST', description: 'the request method' },
      path: {
        type: 'string',
        value: 'path',
        default: '/v1/charges',
        description: 'the concrete request path, without the query',
      },
      json: { type: 'boolean', description: 'print the record as JSON' },
      'max-body': {
        type: 'string',
        value: 'bytes',
        default: '4096',
        description: 'show at most this much of the body',
      },
    },
    details:
      'A record is found by (scope, method, path, key), hashed as the engine does: a key sent on another path or by another tenant is another record.',
  },

  async run(args) {
    const parsed = parseKeyHeader([args.positionals[0]!]);
    if (parsed.type !== 'valid')
      throw new UsageError(
        `KEY is not a valid Idempotency-Key: ${parsed.type === 'invalid' ? parsed.detail : 'empty'}`,
      );
    const credential = optionalString(args, 'credential');
    if (credential !== undefined && args.values.scope !== '')
      throw new UsageError('give --scope or --credential, not both');
    const scope = credential === undefined ? optionalString(args, 'scope')! : credentialScope(credential);
    const method = optionalString(args, 'method')!.toUpperCase();
    const path = optionalString(args, 'path')!;
    if (!path.startsWith('/') || path.includes('?'))
      throw new UsageError(`option --path must be a path such as /v1/charges, got "${path}"`);
    const maxBody = wholeNumberOption(args, 'max-body', { allowZero: true })!;
    const location = parseStoreUrl(requiredString(args, inspect.spec, 'store'));
    if (location.kind === 'memory') {
      throw new UsageError(
        'a memory: store lives inside the process that uses it; inspect one it can open (sqlite:, postgres://, …)',
      );
    }
    const storageKey = storageKeyOf(scope, method, path, parsed.key);
    const record = await withStore(location, false, async (opened) =>
      opened.store.get(storageKey, Date.now()),
    );
    if (!record) {
      const scopeText = scope === '' ? 'no scope' : `scope ${scope}`;
      throw new CliError(
        `no record for key "${parsed.key}" (${method} ${path}, ${scopeText}; storage key ${storageKey}): never used, released, or expired`,
      );
    }
    process.stdout.write(
      args.values.json === true
        ? `${JSON.stringify({ key: parsed.key, scope, method, path, ...recordData(record, maxBody) }, null, 2)}\n`
        : formatRecord(record, parsed.key, maxBody),
    );
  },
};
