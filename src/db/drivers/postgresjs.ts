/**
 * Driver for postgres.js (`postgres`). Import it as `agentpg/postgres`.
 *
 * ```ts
 * import postgres from 'postgres';
 * import { postgresDriver } from 'agentpg/postgres';
 * const sql = postgres(process.env.DATABASE_URL!);
 * const driver = postgresDriver(sql);
 * ```
 *
 * Notes on the `sql` instance you pass:
 * - It must not transform results (`transform` with column/value/row `from`) and must fetch array types
 *   (`fetch_types`, the default): agentpg reads raw column names and needs arrays decoded. Both are checked
 *   here and rejected with a {@link ConfigError}.
 * - agentpg passes string parameters the way node-postgres does, as untouched text (so a JSON string with a
 *   `::jsonb` cast is parsed by the server, not encoded a second time). To do that, a pass-through for
 *   agentpg's own string parameters is installed on `sql.options.serializers`; values you pass in your own
 *   queries are serialised exactly as before.
 * - Statements are prepared (named) when the instance allows it (`prepare: true`, the default). Set the
 *   driver option `prepare: false` behind PgBouncer in transaction mode.
 *
 * Decoding: int8 and numeric come back as strings (or bigint with `types: { bigint: postgres.BigInt }`),
 * `date` as a `Date` at UTC midnight. Statements without parameters use the simple protocol, so a text with
 * several statements runs as a whole and the result of the last one is returned.
 *
 * Inside a transaction, postgres.js fails the whole transaction when any statement failed, even if the error
 * was caught and recovered with a raw `ROLLBACK TO SAVEPOINT`.
 */
import postgres from 'postgres';
import type { Driver, ListenConnection, ListenHandlers, Queryable, QueryResult, SqlParam } from '../driver.js';
import { ConfigError, DriverError } from '../../errors.js';
import { silentLogger, type Logger } from '../../logger.js';
import { quoteIdent, settle } from './shared.js';

export interface PostgresDriverOptions {
  logger?: Logger;
  /** Use named prepared statements when the instance allows it. Default true. */
  prepare?: boolean;
  /** TCP keepalive initial delay of the dedicated LISTEN connection, in seconds. Default 10. */
  listenKeepAliveSeconds?: number;
}

/** A string parameter to be sent as is, whatever type the server infers for it. */
class RawText {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
  valueOf(): string {
    return this.text;
  }
}

const PASS_THROUGH = Symbol.for('agentpg.postgresjs.rawTextPassThrough');
type Serializer = (x: unknown) => unknown;

/**
 * postgres.js serialises a parameter by the type the server infers for it; for json/jsonb that is
 * `JSON.stringify`, which would turn agentpg's JSON text into a JSON string. Wrap each serializer so a
 * {@link RawText} goes out untouched, like node-postgres sends strings. Other values are unaffected.
 */
function installPassThrough(options: { serializers: Record<string | number, Serializer> }): void {
  const current = options.serializers as Record<string | number | symbol, unknown>;
  if (current[PASS_THROUGH]) return;
  const wrapped = new WeakMap<Serializer, Serializer>();
  options.serializers = new Proxy(options.serializers, {
    get(target, key, receiver) {
      if (key === PASS_THROUGH) return true;
      const f = Reflect.get(target, key, receiver) as unknown;
      if (typeof f !== 'function') return f;
      let w = wrapped.get(f as Serializer);
      if (!w) {
        const orig = f as Serializer;
        w = (x: unknown) => (x instanceof RawText ? x.text : orig(x));
        wrapped.set(orig, w);
      }
      return w;
    },
  });
}

interface PostgresJsOptionsView {
  serializers: Record<string | number, Serializer>;
  fetch_types?: boolean;
  transform?: {
    column?: { from?: unknown };
    value?: { from?: unknown };
    row?: { from?: unknown };
  };
}

type UnsafeTarget = Pick<postgres.Sql, 'unsafe'>;

function toArgs(params: readonly SqlParam[]): unknown[] {
  return params.map((p) => (typeof p === 'string' ? new RawText(p) : p));
}

async function run<R>(
  target: UnsafeTarget,
  text: string,
  params: readonly SqlParam[] | undefined,
  prepare: boolean,
): Promise<QueryResult<R>> {
  const res = (
    params && params.length > 0
      ? await target.unsafe(text, toArgs(params) as postgres.ParameterOrJSON<never>[], { prepare })
      : await target.unsafe(text)
  ) as unknown as postgres.RowList<postgres.Row[]> | postgres.RowList<postgres.Row[]>[];
  // Several statements (simple protocol) yield a plain array of results; a single one is a RowList.
  const last = ('command' in res ? res : res[res.length - 1]) as postgres.RowList<postgres.Row[]> | undefined;
  if (!last) return { rows: [], rowCount: 0 };
  const rows = Array.from(last) as R[];
  return { rows, rowCount: typeof last.count === 'number' ? last.count : rows.length };
}

/** A driver over a postgres.js `sql` instance. `close()` never ends `sql`; it closes LISTEN connections opened here. */
export function postgresDriver<TTypes extends Record<string, unknown> = {}>(
  sql: postgres.Sql<TTypes>,
  opts: PostgresDriverOptions = {},
): Driver<postgres.TransactionSql<TTypes>> {
  const logger = opts.logger ?? silentLogger;
  const prepare = opts.prepare ?? true;
  const keepAlive = opts.listenKeepAliveSeconds ?? 10;
  const options = sql.options as unknown as PostgresJsOptionsView;
  const t = options.transform;
  if (t?.column?.from || t?.value?.from || t?.row?.from) {
    throw new ConfigError(
      'postgresDriver: the postgres.js instance transforms results (transform.column/value/row); agentpg needs raw rows. Pass an instance created without `transform`.',
    );
  }
  if (options.fetch_types === false) {
    throw new ConfigError(
      'postgresDriver: the postgres.js instance has fetch_types: false, so arrays would not be encoded or decoded. Pass an instance with fetch_types enabled (the default).',
    );
  }
  installPassThrough(options);
  const base = sql as unknown as postgres.Sql;
  const listeners = new Set<ListenConnection>();
  let closed = false;

  const wrap = (target: UnsafeTarget): Queryable => ({
    query<R = Record<string, unknown>>(text: string, params?: readonly SqlParam[]) {
      return run<R>(target, text, params, prepare);
    },
  });

  return {
    name: 'postgres',

    query<R = Record<string, unknown>>(text: string, params?: readonly SqlParam[]) {
      return run<R>(base, text, params, prepare);
    },

    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      // Boxed so postgres.js does not treat an array result as an array of queries to await.
      const out = (await base.begin(async (tx) => ({ value: await fn(wrap(tx as unknown as UnsafeTarget)) }))) as {
        value: T;
      };
      return out.value;
    },

    fromTx(tx: postgres.TransactionSql<TTypes>): Queryable {
      return wrap(tx as unknown as UnsafeTarget);
    },

    async connectListener(handlers: ListenHandlers): Promise<ListenConnection> {
      if (closed) throw new DriverError('postgres driver is closed');
      let open = true;
      let ready = false;
      let reported = false;
      let pid: number | null = null;
      // A private one-connection instance with the same connection settings. Its death is reported, not
      // papered over: the Notifier reconnects, re-LISTENs and tells subscribers to poll.
      const lsql = postgres({
        ...(sql.options as object),
        max: 1,
        idle_timeout: null,
        max_lifetime: null,
        fetch_types: false,
        keep_alive: keepAlive,
        onnotify(channel: string, payload: string) {
          if (!open) return;
          try {
            handlers.onNotification({ channel, payload });
          } catch (err) {
            logger.error('postgres.js: notification handler threw', { error: String(err) });
          }
        },
        onclose() {
          die(new DriverError('postgres.js: LISTEN connection closed'));
        },
      } as unknown as postgres.Options<{}>);

      const die = (err?: unknown) => {
        if (!open) return;
        open = false;
        listeners.delete(conn);
        // Ends the instance at once, so nothing queued can silently reconnect on a fresh backend.
        void settle(() => lsql.end({ timeout: 0 }));
        if (ready && !reported) {
          reported = true;
          handlers.onClose(err);
        }
      };
      const ensureOpen = () => {
        if (!open) throw new DriverError('postgres.js: LISTEN connection is closed');
      };
      const conn: ListenConnection = {
        get backendPid() {
          return pid;
        },
        async listen(channel: string) {
          ensureOpen();
          await lsql.unsafe(`LISTEN ${quoteIdent(channel)}`);
        },
        async unlisten(channel: string) {
          ensureOpen();
          await lsql.unsafe(`UNLISTEN ${quoteIdent(channel)}`);
        },
        async close() {
          listeners.delete(conn);
          if (!open) return;
          open = false;
          await settle(() => lsql.end({ timeout: 0 }));
        },
      };
      try {
        const rows = await lsql.unsafe<{ pid: number }[]>('SELECT pg_backend_pid() AS pid');
        pid = rows[0]?.pid ?? null;
        ensureOpen();
      } catch (err) {
        open = false;
        await settle(() => lsql.end({ timeout: 0 }));
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
    },
  };
}
