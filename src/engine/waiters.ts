import { WaitTimeoutError } from '../errors.js';

/**
 * Callers waiting for runs to finish. A notification (or a reconnect) wakes the waiters of a run, which
 * then read the row: the notification is only a hint, the row is the truth. Waiters also poll, so a lost
 * notification delays but never strands them.
 */
export class RunWaiters {
  private readonly waiting = new Map<string, Set<() => void>>();

  /** Wakes the waiters of one run. */
  wake(runId: string): void {
    for (const w of this.waiting.get(runId) ?? []) w();
  }

  /** Wakes every waiter (after a reconnect, when notifications may have been missed). */
  wakeAll(): void {
    for (const set of this.waiting.values()) for (const w of set) w();
  }

  get size(): number {
    return this.waiting.size;
  }

  /**
   * Resolves with `check()`'s first non-null value; `check` runs now, on every wake and every `pollMs`.
   * Rejects with WaitTimeoutError on timeout or abort.
   */
  async until<T>(runId: string, check: () => Promise<T | null>, o: { pollMs: number; timeoutMs?: number; signal?: AbortSignal }): Promise<T> {
    if (o.signal?.aborted) throw new WaitTimeoutError(runId, o.timeoutMs, true);
    let wake: () => void = () => {};
    const set = this.waiting.get(runId) ?? new Set();
    const listener = () => wake();
    set.add(listener);
    this.waiting.set(runId, set);
    const deadline = o.timeoutMs === undefined ? Infinity : Date.now() + o.timeoutMs;
    let aborted = false;
    const onAbort = () => {
      aborted = true;
      wake();
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        const v = await check();
        if (v !== null) return v;
        if (aborted) throw new WaitTimeoutError(runId, o.timeoutMs, true);
        const left = deadline - Date.now();
        if (left <= 0) throw new WaitTimeoutError(runId, o.timeoutMs);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(o.pollMs, left));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    } finally {
      o.signal?.removeEventListener('abort', onAbort);
      set.delete(listener);
      if (set.size === 0) this.waiting.delete(runId);
    }
  }
}
