/**
 * Driver for PGlite (`@electric-sql/pglite`), PostgreSQL in-process. Import it as `agentpg/pglite`.
 * Meant for tests, demos and prototypes.
 *
 * ```ts
 * import { PGlite } from '@electric-sql/pglite';
 * import { pgliteDriver } from 'agentpg/pglite';
 * const driver = pgliteDriver(new PGlite());
 * ```
 *
 * PGlite is one connection. Transactions run one at a time, and a statement sent through the driver while a
 * transaction is open waits until it ends (PGlite queues it). Calling the driver itself (not the `tx`
 * handed to you) from inside a transaction would wait for that same transaction forever, so it is rejected
 * with a {@link DriverError} instead. `SELECT ... FOR UPDATE SKIP LOCKED` never sees a competitor.
 *
 * Decoding: int8 comes back as a string (as with the pg and postgres.js defaults; PGlite itself would give
 * a number or a bigint depending on size), numeric as a string, `date` as a `Date` at UTC midnight.
 * Statements without parameters run through `exec` (simple protocol): a text with several statements runs
 * as a whole and the result of the last one is returned.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { TransactionAbortedError, types, type PGlite, type Results, type Transaction } from '@electric-sql/pglite';
import type { Driver, ListenConnection, ListenHandlers, Queryable, QueryResult, SqlParam } from '../driver.js';
import { DriverError, sqlState } from '../../errors.js';
import { silentLogger, type Logger } from '../../logger.js';
import { quoteIdent, settle, TxErrorTracker } from './shared.js';

export interface PgliteDriverOptions {
  logger?: Logger;
}

const INT8 = 20;
const INT8_ARRAY = 1016;
const identity = (x: string) => x;
const queryOptions = {
  parsers: {
    [INT8]: identity,
    [INT8_ARRAY]: (x: string) => types.arrayParser(x, identity, INT8_ARRAY),
  },
};

type PgliteTarget = Pick<PGlite, 'query' | 'exec'> | Pick<Transaction, 'query' | 'exec'>;

function isTransactionAborted(err: unknown): boolean {
  return err instanceof TransactionAbortedError || sqlState(err) === '25P02';
}

async function run<R>(target: PgliteTarget, text: string, params?: readonly SqlParam[]): Promise<QueryResult<R>> {
  let res: Results | undefined;
  if (params && params.length > 0) {
    res = await target.query(text, params as unknown[], queryOptions);
  } else {
    const all = await target.exec(text, queryOptions);
    res = all[all.length - 1];
  }
  if (!res) return { rows: [], rowCount: 0 };
  const rows = res.rows as R[];
  return { rows, rowCount: res.rowCount ?? rows.length };
}

interface TxState {
  active: boolean;
}

/** A driver over a PGlite instance. `close()` never closes the database. */
export function pgliteDriver(db: PGlite, opts: PgliteDriverOptions = {}): Driver<Transaction> {
  const logger = opts.logger ?? silentLogger;
  const inTx = new AsyncLocalStorage<TxState>();
  const listeners = new Set<ListenConnection>();
  let closed = false;

  const guard = (what: string) => {
    if (inTx.getStore()?.active) {
      throw new DriverError(
        `pglite: driver.${what}() called inside driver.transaction() would wait for that transaction forever (PGlite has one connection); use the tx passed to the transaction function`,
      );
    }
  };

  const wrap = (target: PgliteTarget, tracker?: TxErrorTracker): Queryable => ({
    async query<R = Record<string, unknown>>(text: string, params?: readonly SqlParam[]) {
      try {
        return await run<R>(target, text, params);
      } catch (err) {
        tracker?.record(err);
        throw err;
      }
    },
  });

  return {
    name: 'pglite',

    async query<R = Record<string, unknown>>(text: string, params?: readonly SqlParam[]) {
      guard('query');
      return run<R>(db, text, params);
    },

    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      guard('transaction');
      const tracker = new TxErrorTracker();
      const state: TxState = { active: true };
      try {
        return await db.transaction(async (tx) => {
          try {
            return await inTx.run(state, () => fn(wrap(tx, tracker)));
          } finally {
            // From here on (COMMIT/ROLLBACK), work spawned inside fn may queue normally.
            state.active = false;
          }
        });
      } catch (err) {
        // fn swallowed a statement error, so COMMIT rolled back: surface the statement's own error.
        if (isTransactionAborted(err) && tracker.first !== undefined) throw tracker.first;
        throw err;
      }
    },

    fromTx(tx: Transaction): Queryable {
      return wrap(tx);
    },

    async connectListener(handlers: ListenHandlers): Promise<ListenConnection> {
      if (closed) throw new DriverError('pglite driver is closed');
      // PGlite is one session: "the LISTEN connection" is that session; it never dies on its own.
      let open = true;
      const unsubs = new Map<string, (tx?: Transaction) => Promise<void>>();
      // Operations run in the order they were issued, as they would on a real connection.
      let chain: Promise<unknown> = Promise.resolve();
      const serial = <T>(op: () => Promise<T>): Promise<T> => {
        const p = chain.then(op);
        chain = p.catch(() => undefined);
        return p;
      };
      const conn: ListenConnection = {
        backendPid: null,
        listen(channel: string) {
          return serial(async () => {
            if (!open) throw new DriverError('pglite: LISTEN connection is closed');
            if (unsubs.has(channel)) return;
            if (channel.includes('"')) {
              throw new DriverError(`pglite: channel names containing a double quote are not supported: ${channel}`);
            }
            const unsub = await db.listen(quoteIdent(channel), (payload: string) => {
              if (!open || !unsubs.has(channel)) return;
              try {
                handlers.onNotification({ channel, payload });
              } catch (err) {
                logger.error('pglite: notification handler threw', { error: String(err) });
              }
            });
            unsubs.set(channel, unsub);
          });
        },
        unlisten(channel: string) {
          return serial(async () => {
            const unsub = unsubs.get(channel);
            if (!unsub) return;
            unsubs.delete(channel);
            await unsub();
          });
        },
        close() {
          if (!open) return Promise.resolve();
          open = false;
          listeners.delete(conn);
          return serial(async () => {
            const all = [...unsubs.values()];
            unsubs.clear();
            if (!db.closed) for (const u of all) await settle(() => u());
          });
        },
      };
      listeners.add(conn);
      return conn;
    },

    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([...listeners].map((l) => l.close()));
    },
  };
}
