import { requiredString } from './args.js';
import type { Command } from './command.js';
import { noSchemaReason, parseStoreUrl, schemaOf } from './store-url.js';

const storeOption = {
  type: 'string',
  value: 'url',
  description: 'sqlite:PATH, postgres://…, mysql://… (memory: and redis:// have no schema)',
} as const;

export const schema: Command = {
  spec: {
    name: 'schema',
    summary: "print the SQL that creates a store's table, for your migrations",
    usage: 'schema --store URL',
    options: { store: { ...storeOption, description: `${storeOption.description} (required)` } },
    details:
      'Needs no connection and no driver: the DDL comes from the store itself. Use ?table=NAME to rename the table.',
  },

  async run(args) {
    const location = parseStoreUrl(requiredString(args, schema.spec, 'store'));
    const ddl = schemaOf(location);
    process.stdout.write(ddl === undefined ? `-- ${noSchemaReason(location.kind)}\n` : `${ddl.trimEnd()}\n`);
  },
};
