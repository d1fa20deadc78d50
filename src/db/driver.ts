/**
 * The driver contract: the only thing agentpg needs from a PostgreSQL client library.
 *
 * Parameters passed to {@link Queryable.query} are limited to values every driver encodes the same way:
 * `string | number | boolean | null | Date | string[] | number[]`. agentpg serialises JSON itself
 * (`JSON.stringify(x)` with a `::jsonb` cast in the SQL), so drivers never guess how to encode objects.
 *
 * When `params` is omitted, `query` must accept several statements separated by semicolons (the simple query
 * protocol; migrations rely on it); the result is then that of the last statement.
 *
 * Rows come back with: jsonb/json parsed to JS values, timestamptz as `Date`, int2/int4/float as `number`,
 * int8/numeric as `string` or `number` or `bigint` (store code converts), arrays as JS arrays, uuid as string.
 */
export type SqlParam = string | number | boolean | null | Date | readonly string[] | readonly number[];

export interface QueryResult<R> {
  rows: R[];
  /** Rows affected by INSERT/UPDATE/DELETE, or rows returned by SELECT. */
  rowCount: number;
}

/** Anything a statement can be sent to: the pool, a transaction, or the user's own transaction object. */
export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: readonly SqlParam[]): Promise<QueryResult<R>>;
}

/** One notification delivered on a LISTEN connection. */
export interface Notification {
  channel: string;
  payload: string;
}

/**
 * A dedicated connection used only for LISTEN. The shared {@link Notifier} owns it; drivers only open it.
 * It must report its own death through `onError`/`onClose` so the notifier can reconnect.
 */
export interface ListenConnection {
  /** Issues LISTEN for a channel name (the driver quotes it). */
  listen(channel: string): Promise<void>;
  unlisten(channel: string): Promise<void>;
  /** Backend process id of the connection, so tests can pg_terminate_backend it. */
  readonly backendPid: number | null;
  close(): Promise<void>;
}

export interface ListenHandlers {
  onNotification(n: Notification): void;
  /** The connection died or errored; it will not deliver anything more. Called at most once. */
  onClose(err?: unknown): void;
}

/**
 * A database driver. `TTx` is the native transaction object of the underlying library
 * (pg: a `PoolClient` inside BEGIN; postgres.js: the `sql` handed to `sql.begin`; PGlite: its `Transaction`).
 */
export interface Driver<TTx = unknown> extends Queryable {
  /** Short identifier: "pg", "postgres", "pglite". */
  readonly name: string;
  /** Runs `fn` in a transaction on one connection; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Wraps the user's own transaction object so agentpg can write inside it. */
  fromTx(tx: TTx): Queryable;
  /** Opens a dedicated LISTEN connection. */
  connectListener(handlers: ListenHandlers): Promise<ListenConnection>;
  /** Releases resources agentpg itself created (never a pool the user passed in). */
  close(): Promise<void>;
}
