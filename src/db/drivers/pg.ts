/**
 * Driver for node-postgres (`pg`). Import it as `agentpg/pg`.
 *
 * ```ts
 * import pg from 'pg';
 * import { pgDriver } from 'agentpg/pg';
 * const driver = pgDriver(new pg.Pool({ connectionString: process.env.DATABASE_URL }));
 * ```
 *
 * Decoding follows node-postgres' type parsers (including any you changed globally with
 * `pg.types.setTypeParser`): int8 and numeric come back as strings by default, `date` as a `Date` at local
 * midnight. Statements without parameters use the simple query protocol, so a text with several statements
 * runs as a whole and the result of the last one is returned.
 */
import pg from 'pg';
import type { Driver, ListenConnection, ListenHandlers, Queryable, QueryResult, SqlParam } from '../driver.js';
import { DriverError } from '../../errors.js';
import { silentLogger, type Logger } from '../../logger.js';
import { isConnectionError, quoteIdent, settle, TxErrorTracker } from './shared.js';

export interface PgDriverOptions {
  logger?: Logger;
  /**
   * TCP keepalive initial delay of the dedicated LISTEN connection, in ms, so a silently dropped connection
   * is noticed and reconnected. Default 10 000.
   */
  listenKeepAliveMs?: number;
  /**
   * Send statements with parameters as named prepared statements, so PostgreSQL parses and plans each distinct
   * statement once per connection instead of on every call (agentpg's statements are fixed texts). Turn it off
   * behind a pooler that cannot keep prepared statements (PgBouncer in transaction mode before 1.21). Default true.
   */
  preparedStatements?: boolean;
}

type PgQueryTarget = Pick<pg.Pool, 'query'> | Pick<pg.ClientBase, 'query'>;

function isPool(x: unknown): x is pg.Pool {
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof (x as pg.Pool).connect === 'function' &&
    typeof (x as pg.Pool).query === 'function' &&
    typeof (x as pg.Pool).end === 'function' &&
    'totalCount' in x
  );
}

/** Distinct statement texts get one name each, process-wide; past the cap, statements go unnamed. */
const statementNames = new Map<string, string>();
const MAX_NAMED_STATEMENTS = 2000;

function statementName(text: string): string | undefined {
  let name = statementNames.get(text);
  if (name === undefined && statementNames.size < MAX_NAMED_STATEMENTS) {
    name = `agentpg_${statementNames.size + 1}`;
    statementNames.set(text, name);
  }
  return name;
}

async function run<R>(target: PgQueryTarget, text: string, params: readonly SqlParam[] | undefined, prepared: boolean): Promise<QueryResult<R>> {
  // No parameters: simple protocol (several statements allowed). Parameters: extended protocol, named when prepared.
  const name = prepared && params && params.length > 0 ? statementName(text) : undefined;
  const res: pg.QueryResult | pg.QueryResult[] =
    params && params.length > 0
      ? name
        ? await (target as pg.ClientBase).query({ name, text, values: params as unknown[] })
        : await (target as pg.ClientBase).query(text, params as unknown[])
      : await (target as pg.ClientBase).query(text);
  const last = Array.isArray(res) ? res[res.length - 1] : res;
  if (!last) return { rows: [], rowCount: 0 };
  return { rows: last.rows as R[], rowCount: last.rowCount ?? last.rows.length };
}

function wrapClient(client: pg.ClientBase, prepared: boolean, tracker?: TxErrorTracker): Queryable {
  return {
    async query<R = Record<string, unknown>>(text: string, params?: readonly SqlParam[]) {
      try {
        return await run<R>(client, text, params, prepared);
      } catch (err) {
        tracker?.record(err);
        throw err;
      }
    },
  };
}

/**
 * A driver over a `pg.Pool`. Pass your own pool (never ended by `close()`), or a pool config / connection
 * string (the pool is then created here and ended by `close()`). `TTx` is a `PoolClient` inside your BEGIN.
 */
export function pgDriver(poolOrConfig: pg.Pool | pg.PoolConfig | string, opts: PgDriverOptions = {}): Driver<pg.PoolClient> {
  const logger = opts.logger ?? silentLogger;
  const keepAliveMs = opts.listenKeepAliveMs ?? 10_000;
  const prepared = opts.preparedStatements ?? true;
  const ownPool = !isPool(poolOrConfig);
  const pool: pg.Pool = isPool(poolOrConfig)
    ? poolOrConfig
    : new pg.Pool(typeof poolOrConfig === 'string' ? { connectionString: poolOrConfig } : poolOrConfig);
  // A connection the server closes (a restart, pg_terminate_backend, an idle timeout) emits 'error'. Unhandled,
  // that ends the process, and node-postgres can emit it before any caller could listen: when the pool's
  // hand-over of a new client and the server's error arrive in one network read. So, on your pool too: an idle
  // client's error is logged (pool 'error'), and every client the pool opens gets a listener that logs; the
  // queries on a dead connection still fail as usual.
  pool.on('error', (err) => logger.warn('pg pool: idle client error', { error: String(err) }));
  pool.on('connect', (client: pg.PoolClient) => {
    client.on('error', (err) => logger.debug('pg: connection error', { error: String(err) }));
  });
  const listeners = new Set<ListenConnection>();
  let closed = false;

  function listenerConfig(): pg.ClientConfig {
    const o = (pool as { options?: pg.PoolConfig }).options ?? {};
    // Pool-only settings are ignored by pg.Client; connection settings (incl. ssl, password fn) carry over.
    return { ...o, keepAlive: true, keepAliveInitialDelayMillis: keepAliveMs };
  }

  const driver: Driver<pg.PoolClient> = {
    name: 'pg',

    query<R = Record<string, unknown>>(text: string, params?: readonly SqlParam[]) {
      return run<R>(pool, text, params, prepared);
    },

    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      // A checked-out client that errors with no listener would crash the process.
      let clientError: unknown;
      const onClientError = (err: unknown) => {
        clientError = err;
        logger.warn('pg: connection error inside a transaction', { error: String(err) });
      };
      client.on('error', onClientError);
      let destroy = false;
      const tracker = new TxErrorTracker();
      // BEGIN / COMMIT failing without a SQLSTATE means the connection itself is gone.
      const control = async (text: string) => {
        try {
          return await client.query(text);
        } catch (err) {
          if (isConnectionError(err)) destroy = true;
          throw err;
        }
      };
      try {
        await control('BEGIN');
        let result: T;
        try {
          result = await fn(wrapClient(client, prepared, tracker));
        } catch (err) {
          try {
            await client.query('ROLLBACK');
          } catch (rollbackErr) {
            destroy = true;
            logger.debug('pg: ROLLBACK failed; discarding the connection', { error: String(rollbackErr) });
          }
          throw err;
        }
        const commit = await control('COMMIT');
        if (commit.command === 'ROLLBACK') throw tracker.abortedError('pg');
        return result;
      } finally {
        client.off('error', onClientError);
        client.release(destroy || clientError !== undefined);
      }
    },

    fromTx(tx: pg.PoolClient): Queryable {
      return wrapClient(tx, prepared);
    },

    async connectListener(handlers: ListenHandlers): Promise<ListenConnection> {
      if (closed) throw new DriverError('pg driver is closed');
      const client = new pg.Client(listenerConfig());
      let open = true;
      let reported = false;
      let ready = false;
      let pid: number | null = null;
      const die = (err?: unknown) => {
        if (!open) return;
        open = false;
        listeners.delete(conn);
        void settle(() => client.end());
        if (ready && !reported) {
          reported = true;
          handlers.onClose(err);
        }
      };
      client.on('notification', (m: pg.Notification) => {
        if (!open) return;
        try {
          handlers.onNotification({ channel: m.channel, payload: m.payload ?? '' });
        } catch (err) {
          logger.error('pg: notification handler threw', { error: String(err) });
        }
      });
      client.on('error', (err: Error) => die(err));
      client.on('end', () => die(new DriverError('pg: LISTEN connection ended')));
      let queue: Promise<unknown> = Promise.resolve();
      const serial = <T>(fn: () => Promise<T>): Promise<T> => {
        const next = queue.then(fn, fn);
        queue = next.catch(() => undefined);
        return next;
      };

      const ensureOpen = () => {
        if (!open) throw new DriverError('pg: LISTEN connection is closed');
      };
      const conn: ListenConnection = {
        get backendPid() {
          return pid;
        },
        // pg deprecates concurrent queries on one client: LISTEN/UNLISTEN go one after the other.
        listen(channel: string) {
          return serial(() => {
            ensureOpen();
            return client.query(`LISTEN ${quoteIdent(channel)}`).then(() => undefined);
          });
        },
        unlisten(channel: string) {
          return serial(() => {
            ensureOpen();
            return client.query(`UNLISTEN ${quoteIdent(channel)}`).then(() => undefined);
          });
        },
        async close() {
          listeners.delete(conn);
          if (!open) return;
          open = false; // closing on purpose: no onClose
          await settle(() => client.end());
        },
      };
      try {
        await client.connect();
        const r = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        pid = r.rows[0]?.pid ?? null;
        ensureOpen();
      } catch (err) {
        open = false;
        await settle(() => client.end());
        throw err;
      }
      ready = true;
      listeners.add(conn);
      return conn;
    },

    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([...listeners].map((l) => l.close()));
      if (ownPool) await pool.end();
    },
  };
  return driver;
}
