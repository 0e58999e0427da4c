import { availableParallelism, cpus, release, totalmem, type } from 'node:os';
import { Redis } from 'ioredis';
import pg from 'pg';

export interface Machine {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  os: string;
  postgres: string;
  redis: string;
  sqlite: string;
}

/** What the numbers were measured on, including the versions of the database servers. */
export async function describeMachine(): Promise<Machine> {
  return {
    nproc: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${type()} ${release()}`,
    postgres: await postgresVersion().catch((error: Error) => `unavailable (${error.message})`),
    redis: await redisVersion().catch((error: Error) => `unavailable (${error.message})`),
    sqlite: await sqliteVersion().catch((error: Error) => `unavailable (${error.message})`),
  };
}

async function postgresVersion(): Promise<string> {
  const client = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' });
  await client.connect();
  try {
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    const settings = await client.query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_settings WHERE name IN ('synchronous_commit', 'fsync')`,
    );
    const flags = settings.rows.map((row) => `${row.name}=${row.setting}`).join(', ');
    return `PostgreSQL ${rows[0]?.server_version ?? '?'} (${flags})`;
  } finally {
    await client.end();
  }
}

async function redisVersion(): Promise<string> {
  const client = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  try {
    const info = await client.info('server');
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
    const persistence = await client.config('GET', 'appendonly');
    return `Redis ${version} (appendonly=${String((persistence as string[])[1])})`;
  } finally {
    client.disconnect();
  }
}

async function sqliteVersion(): Promise<string> {
  const { default: Database } = await import('better-sqlite3');
  const database = new Database(':memory:');
  try {
    const row = database.prepare('SELECT sqlite_version() AS version').get() as { version: string };
    return `SQLite ${row.version} via better-sqlite3 (WAL, synchronous=FULL: its default)`;
  } finally {
    database.close();
  }
}
