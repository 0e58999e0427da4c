import type { IdempotencyStore } from '../core/store.js';
import { memoryStore } from '../stores/memory/index.js';
import { type MysqlQueryable, mysqlStore } from '../stores/mysql/index.js';
import { type PostgresQueryable, postgresStore } from '../stores/postgres/index.js';
import { type RedisClient, redisStore } from '../stores/redis/index.js';
import { type SqliteDatabase, type SqliteStatement, sqliteStore } from '../stores/sqlite/index.js';
import { CliError, messageOf, UsageError } from './cli-error.js';
import { exported, loadDriver } from './load-driver.js';

/** A parsed `--store` URL. `display` is the URL with any password masked, for messages. */
export type StoreLocation = { display: string } & (
  | { kind: 'memory' }
  | { kind: 'sqlite'; file: string; table?: string }
  | { kind: 'postgres'; connectionString: string; table?: string; prepare?: boolean }
  | { kind: 'redis'; url: string; prefix?: string }
  | { kind: 'mysql'; url: string; table?: string }
);

export type StoreKind = StoreLocation['kind'];

const accepted = 'memory:, sqlite:PATH, postgres://…, redis://… or mysql://…';

/**
 * Parse a `--store` URL: `memory:`, `sqlite:PATH` (`sqlite:./file.db`, `sqlite:/abs/file.db`,
 * `sqlite:///abs/file.db`), `postgres://…`/`postgresql://…`, `redis://…`/`rediss://…`, `mysql://…`.
 * `?table=` (SQL stores), `?prefix=` (Redis) and `?prepare=false` (PostgreSQL: no named prepared
 * statements, for poolers that do not keep them) are taken out; other query parameters go to the driver.
 * A URL the CLI cannot use throws a `UsageError` before anything connects.
 *
 * @example
 * ```ts
 * parseStoreUrl('postgres://app:pw@db/app?table=billing.keys');
 * // { kind: 'postgres', connectionString: 'postgres://app:pw@db/app', table: 'billing.keys', display: 'postgres://app:***@db/app' }
 * ```
 */
export function parseStoreUrl(text: string): StoreLocation {
  const location = parseLocation(text);
  validate(location);
  return location;
}

function parseLocation(text: string): StoreLocation {
  const colon = text.indexOf(':');
  const scheme = colon > 0 ? text.slice(0, colon).toLowerCase() : '';
  switch (scheme) {
    case 'memory':
      return { kind: 'memory', display: 'memory:' };
    case 'sqlite':
      return parseSqlite(text, text.slice(colon + 1));
    case 'postgres':
    case 'postgresql': {
      const { url, display, param } = parseServerUrl(text, 'table', 'prepare');
      const { prepare, ...table } = param;
      if (prepare !== undefined && prepare !== 'true' && prepare !== 'false')
        throw new UsageError(`--store "${display}": prepare= takes true or false, not "${prepare}"`);
      return {
        kind: 'postgres',
        connectionString: url,
        display,
        ...table,
        ...(prepare === undefined ? {} : { prepare: prepare === 'true' }),
      };
    }
    case 'redis':
    case 'rediss': {
      const { url, display, param } = parseServerUrl(text, 'prefix');
      return { kind: 'redis', url, display, ...param };
    }
    case 'mysql': {
      const { url, display, param } = parseServerUrl(text, 'table');
      return { kind: 'mysql', url, display, ...param };
    }
    default:
      throw new UsageError(
        scheme === ''
          ? `--store "${text}" is not a store URL; use ${accepted}`
          : `--store "${text}": unsupported scheme "${scheme}:"; use ${accepted}`,
      );
  }
}

function parseSqlite(text: string, rest: string): StoreLocation {
  const queryAt = rest.indexOf('?');
  let file = queryAt === -1 ? rest : rest.slice(0, queryAt);
  // sqlite:///abs/path and sqlite://./rel are common spellings of sqlite:/abs/path and sqlite:./rel.
  if (file.startsWith('//')) file = file.slice(2);
  if (file === '') throw new UsageError(`--store "${text}" needs a file path, e.g. sqlite:./idemkit.db`);
  const params = new URLSearchParams(queryAt === -1 ? '' : rest.slice(queryAt + 1));
  for (const name of params.keys()) {
    if (name !== 'table')
      throw new UsageError(`--store "${text}": unknown parameter "${name}" (only table=)`);
  }
  const table = params.get('table') ?? undefined;
  return { kind: 'sqlite', file, display: text, ...(table === undefined ? {} : { table }) };
}

function parseServerUrl<Name extends string>(
  text: string,
  ...names: Name[]
): { url: string; display: string; param: Partial<Record<Name, string>> } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--store "${text}" is not a valid URL`);
  }
  if (url.hostname === '') throw new UsageError(`--store "${text}" has no host`);
  const param: Partial<Record<Name, string>> = {};
  for (const name of names) {
    const value = url.searchParams.get(name);
    url.searchParams.delete(name);
    if (value !== null) param[name] = value;
  }
  const clean = url.toString();
  if (url.password !== '') url.password = '***';
  return { url: clean, display: url.toString(), param };
}

/** A store opened from a URL, with what the commands need besides the store itself. */
export interface OpenedStore {
  location: StoreLocation;
  store: IdempotencyStore;
  /** Create the table (SQL stores; safe to repeat). Absent for memory and Redis. */
  setup?: () => Promise<void>;
  /** The open better-sqlite3 database of a `sqlite:` store (the demo keeps its charges there too). */
  sqlite?: SqliteConnection;
  /** Close what `openStore` opened: connections, pools, the database file. */
  close(): Promise<void>;
}

/** A better-sqlite3 `Database`, as far as the CLI uses it. */
export interface SqliteConnection extends SqliteDatabase {
  prepare(sql: string): SqliteStatement & { all(...params: unknown[]): unknown[] };
  close(): unknown;
}

export interface OpenStoreOptions {
  /** False: a `sqlite:` file must already exist (inspect, purge) rather than be created. Default true. */
  create?: boolean;
  /** Told about errors a connection reports after start-up (a dropped pool client, a Redis reconnect). */
  onConnectionError?: (error: unknown) => void;
}

/**
 * Open the store a URL names, loading its driver on demand, and check that it answers: a store
 * that cannot be reached fails here with one clear line, not on the first request.
 *
 * @example
 * ```ts
 * const opened = await openStore(parseStoreUrl('sqlite:./idemkit.db'));
 * await opened.setup?.();
 * const engine = createIdempotency({ store: opened.store });
 * ```
 */
export async function openStore(
  location: StoreLocation,
  options: OpenStoreOptions = {},
): Promise<OpenedStore> {
  const onError = options.onConnectionError ?? (() => undefined);
  switch (location.kind) {
    case 'memory':
      return { location, store: memoryStore(), close: async () => undefined };
    case 'sqlite':
      return openSqlite(location, options.create ?? true);
    case 'postgres':
      return openPostgres(location, onError);
    case 'redis':
      return openRedis(location, onError);
    case 'mysql':
      return openMysql(location, onError);
  }
}

type SqliteConstructor = new (file: string, options?: { fileMustExist?: boolean }) => SqliteConnection;

async function openSqlite(
  location: Extract<StoreLocation, { kind: 'sqlite' }>,
  create: boolean,
): Promise<OpenedStore> {
  const Database = (await loadDriver('better-sqlite3', 'sqlite')).default as SqliteConstructor;
  let database: SqliteConnection;
  try {
    database = new Database(location.file, { fileMustExist: !create });
  } catch (error) {
    throw new CliError(`cannot open the SQLite file ${location.file}: ${messageOf(error)}`, { cause: error });
  }
  const store = construct(
    () => sqliteStore({ database, table: location.table }),
    () => database.close(),
  );
  return {
    location,
    store,
    setup: () => store.setup(),
    sqlite: database,
    close: async () => {
      database.close();
    },
  };
}

interface PgPool extends PostgresQueryable {
  end(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

async function openPostgres(
  location: Extract<StoreLocation, { kind: 'postgres' }>,
  onError: (error: unknown) => void,
): Promise<OpenedStore> {
  const Pool = exported<new (config: object) => PgPool>(await loadDriver('pg', 'postgres'), 'Pool');
  const pool = new Pool({
    connectionString: location.connectionString,
    max: 10,
    connectionTimeoutMillis: 5_000,
  });
  // An idle client losing its connection is reported here; without a listener it would crash us.
  pool.on('error', onError);
  await verify(
    location,
    () => pool.query('SELECT 1'),
    () => pool.end(),
  );
  const store = construct(
    () => postgresStore({ pool, table: location.table, prepare: location.prepare }),
    () => pool.end(),
  );
  return {
    location,
    store,
    setup: () => store.setup(),
    close: async () => {
      await store.close();
      await pool.end();
    },
  };
}

interface IoRedisClient extends RedisClient {
  connect(): Promise<void>;
  disconnect(): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

async function openRedis(
  location: Extract<StoreLocation, { kind: 'redis' }>,
  onError: (error: unknown) => void,
): Promise<OpenedStore> {
  const Redis = exported<new (url: string, options: object) => IoRedisClient>(
    await loadDriver('ioredis', 'redis'),
    'Redis',
  );
  let started = false;
  const client = new Redis(location.url, {
    lazyConnect: true,
    connectTimeout: 5_000,
    // The proxy's concurrent requests share writes to Redis: fewer system calls on both sides.
    enableAutoPipelining: true,
    // Give up at once while starting (so a wrong URL fails fast); reconnect with backoff afterwards.
    retryStrategy: (attempt: number) => (started ? Math.min(attempt * 200, 2_000) : null),
  });
  // While starting, keep the socket's own error (ECONNREFUSED…): connect() only says "Connection is closed".
  let startError: Error | undefined;
  client.on('error', (error) => {
    if (started) onError(error);
    else startError ??= error;
  });
  await verify(
    location,
    () =>
      client.connect().catch((error: unknown) => {
        throw startError ?? error;
      }),
    () => client.disconnect(),
  );
  started = true;
  const store = construct(
    () => redisStore({ client, ...(location.prefix === undefined ? {} : { prefix: location.prefix }) }),
    () => client.disconnect(),
  );
  return {
    location,
    store,
    close: async () => {
      await store.close?.();
      client.disconnect();
    },
  };
}

interface MysqlPool extends MysqlQueryable {
  end(): Promise<void>;
}

async function openMysql(
  location: Extract<StoreLocation, { kind: 'mysql' }>,
  onError: (error: unknown) => void,
): Promise<OpenedStore> {
  const createPool = exported<
    (config: object) => MysqlPool & { on?: (event: string, l: (e: Error) => void) => unknown }
  >(await loadDriver('mysql2/promise', 'mysql'), 'createPool');
  const pool = createPool({ uri: location.url, connectionLimit: 10, connectTimeout: 5_000 });
  pool.on?.('error', onError);
  await verify(
    location,
    () => pool.query('SELECT 1'),
    () => pool.end(),
  );
  const store = construct(
    () => mysqlStore({ pool, table: location.table }),
    () => pool.end(),
  );
  return { location, store, setup: () => store.setup(), close: () => pool.end() };
}

/** How long the first round trip may take: a server that accepts connections but never answers must not hang the CLI. */
const probeTimeoutMs = 10_000;

/** Make one round trip now, so an unreachable store is reported before anything listens. */
async function verify(
  location: StoreLocation,
  probe: () => Promise<unknown>,
  cleanup: () => unknown,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const silent = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${probeTimeoutMs / 1000} s`)),
      probeTimeoutMs,
    );
  });
  try {
    await Promise.race([probe(), silent]);
  } catch (error) {
    await Promise.resolve()
      .then(cleanup)
      .catch(() => undefined);
    throw new CliError(
      `cannot reach the ${location.kind} store at ${location.display}: ${messageOf(error)}`,
      {
        cause: error,
      },
    );
  } finally {
    clearTimeout(timer);
  }
}

/** Build a store; its constructor rejects bad options (a table name from `?table=`) with a TypeError. */
function construct<T>(build: () => T, cleanup: () => unknown): T {
  try {
    return build();
  } catch (error) {
    Promise.resolve()
      .then(cleanup)
      .catch(() => undefined);
    throw new UsageError(`--store: ${messageOf(error)}`);
  }
}

/**
 * The DDL of a SQL store, computed without connecting (so `idemkit schema` works offline and
 * without the driver installed); undefined for stores that have no schema.
 */
export function schemaOf(location: StoreLocation): string | undefined {
  // Stand-ins for a connection: building a store and asking for its DDL never touches one.
  const fail = (): never => {
    throw new Error('schema only: this store has no connection');
  };
  const unreachable = async (): Promise<never> => fail();
  switch (location.kind) {
    case 'sqlite':
      return construct(
        () => sqliteStore({ database: { prepare: fail, exec: fail }, table: location.table }),
        noop,
      ).schema();
    case 'postgres':
      return construct(
        () => postgresStore({ pool: { query: unreachable }, table: location.table }),
        noop,
      ).schema();
    case 'mysql':
      return construct(
        () => mysqlStore({ pool: { query: unreachable }, table: location.table }),
        noop,
      ).schema();
    default:
      return undefined;
  }
}

function noop(): void {}

/**
 * Reject a bad `?table=` or `?prefix=` before anything connects or a file is created: building
 * the store with stand-in clients runs its own checks.
 */
function validate(location: StoreLocation): void {
  if (location.kind === 'redis') {
    const stub = { callBuffer: async () => undefined, duplicate: () => ({}) as never };
    construct(
      () =>
        redisStore({ client: stub, ...(location.prefix === undefined ? {} : { prefix: location.prefix }) }),
      noop,
    );
    return;
  }
  schemaOf(location);
}

/** Why there is nothing to create for a store without a schema. */
export function noSchemaReason(kind: StoreKind): string {
  return kind === 'redis'
    ? 'the redis store has no schema: records are plain keys that expire on their own'
    : 'the memory store has no schema: records live in the process and vanish with it';
}
