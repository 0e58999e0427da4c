import { requiredString } from './args.js';
import type { Command } from './command.js';
import { withStore } from './one-shot.js';
import { parseStoreUrl } from './store-url.js';

/** While a long purge runs, say it is still going this often. */
const progressEveryMs = 2_000;

export const purge: Command = {
  spec: {
    name: 'purge',
    summary: 'delete expired idempotency records',
    usage: 'purge --store URL',
    options: { store: { type: 'string', value: 'url', description: 'the store to clean (required)' } },
    details: [
      'Deletes in batches, so live traffic is never blocked for long. Run it on a schedule (cron) for SQL stores;',
      'Redis expires records by itself, and a memory: store lives only inside a running process.',
    ].join('\n'),
  },

  async run(args) {
    const location = parseStoreUrl(requiredString(args, purge.spec, 'store'));
    if (location.kind === 'memory') {
      process.stdout.write('nothing to purge: a memory: store lives only inside the process that uses it\n');
      return;
    }
    await withStore(location, false, async (opened) => {
      const startedAt = performance.now();
      // Quiet unless it takes a while, so a failure is still the only line on stderr.
      const ticker = setInterval(() => {
        process.stderr.write(
          `still purging ${location.display} (${((performance.now() - startedAt) / 1000).toFixed(0)} s)…\n`,
        );
      }, progressEveryMs);
      try {
        const purged = await opened.store.purgeExpired(Date.now());
        const seconds = ((performance.now() - startedAt) / 1000).toFixed(2);
        const note = location.kind === 'redis' ? ' (Redis deletes expired records by itself)' : '';
        process.stdout.write(
          `purged ${purged} expired record${purged === 1 ? '' : 's'} in ${seconds} s${note}\n`,
        );
      } finally {
        clearInterval(ticker);
      }
    });
  },
};
