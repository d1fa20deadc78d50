import { sqlState } from '../errors.js';

/**
 * Whether a database error is about the connection or the server's availability rather than the statement:
 * the same statement is expected to work on a new connection a moment later (a killed backend, a server
 * restart, a refused connection, a deadlock victim or serialization failure).
 */
export function isTransientDbError(err: unknown): boolean {
  const state = sqlState(err);
  if (state) {
    return (
      state.startsWith('08') || // connection exception
      state === '57P01' || // admin_shutdown (pg_terminate_backend, server stop)
      state === '57P02' || // crash_shutdown
      state === '57P03' || // cannot_connect_now (starting up, recovering)
      state === '53300' || // too_many_connections
      state === '40001' || // serialization_failure
      state === '40P01' // deadlock_detected
    );
  }
  const e = err as { code?: unknown; message?: unknown; cause?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTCONN', 'EHOSTUNREACH', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED'].includes(code)) {
    return true;
  }
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if (/connection terminated|terminating connection|connection (?:timeout|closed|ended|refused)|client has encountered a connection error|server closed the connection|the database system is (?:starting up|shutting down|in recovery mode)/i.test(message)) {
    return true;
  }
  return e?.cause !== undefined && e.cause !== err ? isTransientDbError(e.cause) : false;
}

/**
 * Runs `fn` again (backoff 50 ms doubling to 1 s) while it fails with a transient database error, for at
 * most `deadlineMs`; then, or on any other error, rethrows. For outcomes worth keeping across a dropped
 * connection: a tool's result, a batch id the API just returned. `fn` must be idempotent (guarded writes).
 */
export async function retryTransient<T>(fn: () => Promise<T>, opts: { deadlineMs: number; stopped?: () => boolean }): Promise<T> {
  const deadline = Date.now() + opts.deadlineMs;
  for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
    try {
      return await fn();
    } catch (err) {
      if (!isTransientDbError(err) || Date.now() + delay > deadline || opts.stopped?.()) throw err;
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
