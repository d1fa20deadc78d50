import type { Clock } from '../clock.js';
import { newId } from '../ids.js';
import { BatchRecord, type BatchItem } from './batch.js';
import type { BatchRunner } from './runner.js';

/** All batches of one emulator, with the clock applied on every read. */
export class BatchStore {
  readonly #batches = new Map<string, BatchRecord>();
  #seq = 0;

  constructor(
    private readonly clock: Clock,
    private readonly runner: BatchRunner,
  ) {}

  create(
    items: BatchItem[],
    origin: BatchRecord['origin'],
    resultsBase: string,
    latencyMs: number,
  ): BatchRecord {
    const id = newId('msgbatch');
    const batch = new BatchRecord(id, this.#seq++, this.clock.now(), items, origin, `${resultsBase}/v1/messages/batches/${id}/results`);
    this.#batches.set(id, batch);
    this.runner.schedule(batch, latencyMs);
    return batch;
  }

  get(id: string): BatchRecord | undefined {
    const b = this.#batches.get(id);
    b?.refresh(this.clock.now());
    if (b?.status === 'ended') this.runner.forget(b);
    return b;
  }

  /** Every batch, newest first. */
  list(): BatchRecord[] {
    const now = this.clock.now();
    const all = [...this.#batches.values()];
    for (const b of all) b.refresh(now);
    return all.sort((a, b) => b.createdAt - a.createdAt || b.seq - a.seq);
  }

  delete(id: string): void {
    const b = this.#batches.get(id);
    if (b) this.runner.forget(b);
    this.#batches.delete(id);
  }

  clear(): void {
    for (const b of this.#batches.values()) {
      this.runner.forget(b);
      b.finish(this.clock.now()); // stops a runner still working through it
    }
    this.#batches.clear();
  }
}
