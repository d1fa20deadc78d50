import type { MessageBatchResult } from '@anthropic-ai/sdk/resources/messages/batches';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Logger } from '../../logger.js';
import type { Clock } from '../clock.js';
import type { BatchItem, BatchRecord } from './batch.js';

/** Produces one request's result. Must not throw (the runner still guards against it). */
export type ProcessItem = (item: BatchItem, batch: BatchRecord) => Promise<MessageBatchResult>;

/** Requests processed between yields to the event loop, so a 10,000-request batch never blocks HTTP traffic. */
const SLICE = 200;

/**
 * Moves batches through time: after the batch's latency its requests are processed one by one (stopping early on
 * cancel or expiry), then it ends. Timers are unref'd: a forgotten emulator never keeps a process alive.
 */
export class BatchRunner {
  readonly #timers = new Map<string, NodeJS.Timeout>();
  #closed = false;

  constructor(
    private readonly clock: Clock,
    private readonly processItem: ProcessItem,
    private readonly logger: Logger,
  ) {}

  /** Processes `batch` after `latencyMs` (Infinity: never; it ends by cancel or expiry). */
  schedule(batch: BatchRecord, latencyMs: number): void {
    if (!Number.isFinite(latencyMs)) return;
    this.#later(batch, latencyMs, () => void this.#run(batch));
  }

  /** Starts canceling: an idle batch ends after `latencyMs`; a running one stops after its current request. */
  cancel(batch: BatchRecord, latencyMs: number): void {
    if (batch.status !== 'in_progress') return;
    batch.status = 'canceling';
    batch.cancelInitiatedAt = this.clock.now();
    if (!batch.running) this.#later(batch, latencyMs, () => batch.finish(this.clock.now()));
  }

  forget(batch: BatchRecord): void {
    clearTimeout(this.#timers.get(batch.id));
    this.#timers.delete(batch.id);
  }

  close(): void {
    this.#closed = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
  }

  #later(batch: BatchRecord, ms: number, fn: () => void): void {
    if (this.#closed) return;
    this.forget(batch);
    const t = setTimeout(() => {
      this.#timers.delete(batch.id);
      fn();
    }, ms);
    t.unref();
    this.#timers.set(batch.id, t);
  }

  async #run(batch: BatchRecord): Promise<void> {
    if (batch.status !== 'in_progress') return;
    batch.running = true;
    try {
      for (let i = 0; i < batch.items.length; i++) {
        if (this.#closed || batch.status !== 'in_progress') break;
        if (this.clock.now() >= batch.expiresAt) break;
        const item = batch.items[i]!;
        if (item.result) continue;
        let result: MessageBatchResult;
        try {
          result = await this.processItem(item, batch);
        } catch (err) {
          this.logger.error('emulator: batch item processing failed', { batch: batch.id, custom_id: item.customId, err: String(err) });
          result = { type: 'errored', error: { type: 'error', error: { type: 'api_error', message: 'Internal server error' }, request_id: null } };
        }
        // The batch may have expired (clock moved) while this request was being answered.
        if ((batch.status as string) === 'ended') return;
        item.result = result;
        if (i % SLICE === SLICE - 1) await yieldToLoop();
      }
    } finally {
      batch.running = false;
    }
    if (this.#closed) return;
    const now = this.clock.now();
    batch.finish(Math.min(now, batch.expiresAt));
  }
}
