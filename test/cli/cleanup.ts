import { Redis } from 'ioredis';
import pg from 'pg';
import { postgresUrl } from '../helpers/store-spec.js';

/** Names unique to one test run, so parallel files and runs never share a table or key. */
export function uniqueName(label: string): string {
  return `idemkit_cli_${label}_${Math.random().toString(36).slice(2, 10)}`;
}

export async function dropPostgresTables(tables: readonly string[]): Promise<void> {
  const client = new pg.Client({ connectionString: postgresUrl, statement_timeout: 10_000 });
  await client.connect();
  try {
    // Never wait forever behind another session's lock: a stuck cleanup would hang the test run.
    await client.query(`SET lock_timeout = '5s'`);
    for (const table of tables) await client.query(`DROP TABLE IF EXISTS "${table}"`);
  } finally {
    await client.end();
  }
}

export async function deleteRedisPrefix(prefix: string): Promise<void> {
  const client = new Redis({ host: '127.0.0.1', port: 6379, commandTimeout: 5_000, maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}
