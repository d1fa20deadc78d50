import { InvalidArgumentError, Option, type Command } from 'commander';
import type { Driver } from '../db/driver.js';
import { validateSchemaName } from '../db/identifiers.js';

/** An error the CLI prints as one line (`agentpg: <message>`) and exits 1 on; never a stack trace. */
export class CliError extends Error {
  override name = 'CliError';
}

export interface ConnectionOptions {
  databaseUrl?: string;
  schema: string;
}

/** Adds `--database-url` and `--schema` to a command that talks to the database. */
export function withConnectionOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--database-url <url>', 'PostgreSQL connection string (default: $DATABASE_URL)'))
    .addOption(new Option('--schema <name>', "schema of agentpg's tables").default('agentpg'));
}

/** The URL with its password masked, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

function checkUrl(url: string | undefined): string {
  if (!url) {
    throw new CliError('no database given: pass --database-url postgres://user:password@host:5432/db or set DATABASE_URL');
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CliError(`the database URL is not a URL: expected postgres://user:password@host:5432/db`);
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new CliError(`the database URL must start with postgres:// or postgresql://, got ${u.protocol}//`);
  }
  return url;
}

/** Why a connection failed, in one line, for the errors node-postgres reports. */
export function describeConnectionError(err: unknown, url: string): string {
  const e = err as { code?: string; message?: string; errors?: { message?: string }[] };
  const where = `cannot connect to PostgreSQL at ${redactUrl(url)}`;
  if (e?.code === 'ECONNREFUSED') return `${where}: connection refused (is the server running, and on that port?)`;
  if (e?.code === 'ENOTFOUND' || e?.code === 'EAI_AGAIN') return `${where}: unknown host`;
  const detail = e?.message || e?.errors?.map((x) => x.message).join('; ') || e?.code || String(err);
  return `${where}: ${detail}`;
}

/**
 * Opens a pool on the database, checks that it answers, runs `fn`, and closes the pool. Connection failures
 * become one-line {@link CliError}s.
 */
export async function withDatabase<T>(opts: ConnectionOptions, fn: (driver: Driver, schema: string) => Promise<T>): Promise<T> {
  const url = checkUrl(opts.databaseUrl ?? process.env.DATABASE_URL);
  let schema: string;
  try {
    schema = validateSchemaName(opts.schema);
  } catch (err) {
    throw new CliError(`--schema: ${(err as Error).message}`);
  }
  let pgModule: typeof import('pg');
  let driverModule: typeof import('../db/drivers/pg.js');
  try {
    pgModule = await import('pg');
    driverModule = await import('../db/drivers/pg.js');
  } catch {
    throw new CliError('the agentpg CLI needs the `pg` package to reach PostgreSQL: npm install pg');
  }
  const pg = pgModule.default;
  const pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 10_000 });
  pool.on('error', () => {}); // an idle connection dropped by the server; the next query reports it
  const driver = driverModule.pgDriver(pool);
  try {
    try {
      await pool.query('SELECT 1');
    } catch (err) {
      throw new CliError(describeConnectionError(err, url));
    }
    return await fn(driver, schema);
  } finally {
    await driver.close().catch(() => {});
    await pool.end().catch(() => {});
  }
}

/** Parses a positive integer option value. */
export function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer.`);
    return n;
  };
}

/** Parses a non-negative integer option value. */
export function nonNegativeInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer.`);
    return n;
  };
}
