import { CliError } from './cli-error.js';
import { describeError } from './log.js';
import { type OpenedStore, openStore, type StoreLocation } from './store-url.js';

/**
 * Open a store for a one-shot command, run `work`, and always close it. A store failure during
 * the work becomes one line, with a hint when the table is simply missing.
 */
export async function withStore<T>(
  location: StoreLocation,
  create: boolean,
  work: (opened: OpenedStore) => Promise<T>,
): Promise<T> {
  const opened = await openStore(location, { create });
  try {
    return await work(opened);
  } catch (error) {
    if (error instanceof CliError) throw error;
    const message = describeError(error);
    const missingTable = /no such table|does not exist|doesn't exist/i.test(message);
    throw new CliError(
      `the ${location.kind} store at ${location.display} failed: ${message}` +
        (missingTable ? ` (create the table with: idemkit setup --store ${location.display})` : ''),
      { cause: error },
    );
  } finally {
    await opened.close().catch(() => undefined);
  }
}
