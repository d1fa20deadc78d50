/** An item waiting in a {@link Batcher}, with the callbacks that settle its caller's promise. */
export interface Queued<I, O> {
  item: I;
  resolve: (o: O) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: callers add items one by one; items are handed to `flush` in batches. A batch starts as soon as a
 * slot is free (no added delay when idle), and everything that arrives while batches are being written goes into
 * the next one, so a busy process writes many items per statement. `flush` must settle every item it is given.
 */
export class Batcher<I, O> {
  private readonly queue: Queued<I, O>[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly flush: (batch: Queued<I, O>[]) => Promise<void>,
    private readonly opts: { maxBatch: number; maxInFlight: number },
  ) {}

  add(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.scheduled || this.inFlight >= this.opts.maxInFlight || this.queue.length === 0) return;
    this.scheduled = true;
    // Items added in this turn of the event loop join the batch.
    setImmediate(() => {
      this.scheduled = false;
      if (this.inFlight >= this.opts.maxInFlight || this.queue.length === 0) return;
      const batch = this.queue.splice(0, this.opts.maxBatch);
      this.inFlight++;
      this.flush(batch)
        .catch((err) => {
          for (const q of batch) q.reject(err);
        })
        .finally(() => {
          this.inFlight--;
          this.kick();
        });
      this.kick();
    });
  }
}
