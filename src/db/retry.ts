import type { Driver, Queryable } from './driver.js';
import { sqlState } from '../errors.js';

/**
 * Runs `fn` in a transaction, again when PostgreSQL aborted it as a deadlock victim (40P01) or a
 * serialization failure (40001). The engine's transactions are idempotent, guarded transitions, so a
 * retry either applies them or finds them already applied.
 */
export async function transactionWithRetry<T>(driver: Driver, fn: (tx: Queryable) => Promise<T>, attempts = 4): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await driver.transaction(fn);
    } catch (err) {
      const state = sqlState(err);
      if (i >= attempts || (state !== '40P01' && state !== '40001')) throw err;
      await new Promise((r) => setTimeout(r, 5 * i + Math.random() * 20));
    }
  }
}
