import { CliError, messageOf } from './cli-error.js';

/** The database drivers the CLI can use; none of them is a dependency of the library itself. */
export type DriverPackage = 'better-sqlite3' | 'pg' | 'ioredis' | 'mysql2/promise';

/**
 * Import a driver only when a `--store` URL needs it, so `idemkit` runs with whichever one the user
 * installed. A missing package becomes one line naming what to install.
 */
export async function loadDriver(
  specifier: DriverPackage,
  storeName: string,
): Promise<Record<string, unknown>> {
  const packageName = specifier.split('/')[0]!;
  try {
    // A variable specifier: TypeScript must not resolve the driver's types (users may not have them).
    const name: string = specifier;
    return (await import(name)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (
      (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
      messageOf(error).includes(`'${packageName}'`)
    ) {
      throw new CliError(
        `the ${storeName} store needs the "${packageName}" package, which is not installed: run npm install ${packageName}`,
      );
    }
    throw new CliError(`could not load "${specifier}" for the ${storeName} store: ${messageOf(error)}`, {
      cause: error,
    });
  }
}

/** A CommonJS driver's export, whether Node handed it over as `default` or as a named export. */
export function exported<T>(module: Record<string, unknown>, name: string): T {
  const direct = module[name];
  if (direct !== undefined) return direct as T;
  const fallback = (module.default as Record<string, unknown> | undefined)?.[name];
  if (fallback === undefined) throw new CliError(`the installed driver has no "${name}" export`);
  return fallback as T;
}
