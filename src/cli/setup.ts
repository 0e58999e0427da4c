import { requiredString } from './args.js';
import type { Command } from './command.js';
import { withStore } from './one-shot.js';
import { noSchemaReason, parseStoreUrl } from './store-url.js';

export const setup: Command = {
  spec: {
    name: 'setup',
    summary: "create a store's table (and index) if it is missing",
    usage: 'setup --store URL',
    options: {
      store: { type: 'string', value: 'url', description: 'sqlite:PATH, postgres://…, mysql://… (required)' },
    },
    details: 'Safe to run again and from several processes at once. idemkit schema prints the same DDL.',
  },

  async run(args) {
    const location = parseStoreUrl(requiredString(args, setup.spec, 'store'));
    await withStore(location, true, async (opened) => {
      if (!opened.setup) {
        process.stdout.write(`nothing to set up: ${noSchemaReason(location.kind)}\n`);
        return;
      }
      await opened.setup();
      process.stdout.write(
        `the ${location.kind} store at ${location.display} is ready (table created if it was missing)\n`,
      );
    });
  },
};
