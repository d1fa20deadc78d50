/**
 * Small helpers shared by the driver modules. Imports no driver library, so each driver module pulls in
 * only its own peer dependency.
 */
import { DriverError, sqlState } from '../../errors.js';

/** Quotes a channel (or any identifier) for LISTEN/UNLISTEN: keeps case and dots, doubles embedded quotes. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Records the first statement error seen inside one transaction. If the caller swallowed it and the
 * transaction function still resolved, PostgreSQL turns the COMMIT into a ROLLBACK; the driver then
 * rejects with that first error (its SQLSTATE intact) rather than pretending the commit succeeded.
 */
export class TxErrorTracker {
  first: unknown = undefined;
  record(err: unknown): void {
    if (this.first === undefined) this.first = err;
  }
  /** The error to throw when COMMIT reported ROLLBACK. */
  abortedError(driver: string): unknown {
    return (
      this.first ??
      new DriverError(`${driver}: the transaction was aborted and rolled back at COMMIT`, undefined, { sqlState: '25P02' })
    );
  }
}

/** True for errors that leave a connection unusable (no SQLSTATE: socket errors, timeouts, terminations). */
export function isConnectionError(err: unknown): boolean {
  const state = sqlState(err);
  if (state === undefined) return true;
  // 57P01 admin_shutdown (pg_terminate_backend), 57P02/57P03, 08xxx connection exceptions.
  return state.startsWith('08') || state.startsWith('57P');
}

/** Runs `fn` and reports success; never throws (used for best-effort cleanup). */
export async function settle(fn: () => Promise<unknown> | unknown): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch {
    return false;
  }
}
