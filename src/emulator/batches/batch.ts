import type { MessageBatch, MessageBatchResult } from '@anthropic-ai/sdk/resources/messages/batches';
import { DAY_MS, rfc3339 } from '../clock.js';

/** Batches expire 24 h after creation; results stay downloadable for 29 days after creation. */
export const EXPIRY_MS = DAY_MS;
export const ARCHIVE_MS = 29 * DAY_MS;

export interface BatchItem {
  customId: string;
  params: unknown;
  result?: MessageBatchResult;
}

type Counts = MessageBatch['request_counts'];

/**
 * One Message Batch and its state machine: in_progress → ended, or in_progress → canceling → ended. Requests without
 * a result when it ends become `canceled` (after a cancel) or `expired` (past 24 h). Counts stay all `processing`
 * until the end, then switch to the final tallies.
 */
export class BatchRecord {
  status: 'in_progress' | 'canceling' | 'ended' = 'in_progress';
  endedAt: number | null = null;
  cancelInitiatedAt: number | null = null;
  archivedAt: number | null = null;
  /** True while the runner is working through the requests. */
  running = false;
  #final: Counts | undefined;
  items: BatchItem[];

  constructor(
    readonly id: string,
    readonly seq: number,
    readonly createdAt: number,
    items: BatchItem[],
    /** Context of the create call, applied to every request's validation. */
    readonly origin: { requestId: string; apiVersion: string; betas: readonly string[] },
    readonly resultsUrl: string,
  ) {
    this.items = items;
  }

  get expiresAt(): number {
    return this.createdAt + EXPIRY_MS;
  }
  get size(): number {
    return this.#final ? Object.values(this.#final).reduce((a, b) => a + b, 0) : this.items.length;
  }

  /** Ends the batch at `at`; unfinished requests become canceled (after a cancel) or expired. */
  finish(at: number): void {
    if (this.status === 'ended') return;
    const fill: MessageBatchResult = this.cancelInitiatedAt !== null ? { type: 'canceled' } : { type: 'expired' };
    const counts: Counts = { processing: 0, succeeded: 0, errored: 0, canceled: 0, expired: 0 };
    for (const item of this.items) {
      item.result ??= fill;
      counts[item.result.type]++;
    }
    this.#final = counts;
    this.status = 'ended';
    this.endedAt = at;
  }

  /** Applies what the clock implies: expiry after 24 h, archiving after 29 days. */
  refresh(now: number): void {
    if (this.status !== 'ended' && now >= this.expiresAt) this.finish(this.expiresAt);
    if (this.status === 'ended' && this.archivedAt === null && now >= this.createdAt + ARCHIVE_MS) {
      this.archivedAt = this.createdAt + ARCHIVE_MS;
      this.items = []; // results are gone; the counts remain
    }
  }

  requestCounts(): Counts {
    return this.#final ? { ...this.#final } : { processing: this.items.length, succeeded: 0, errored: 0, canceled: 0, expired: 0 };
  }

  /** The `MessageBatch` object, every field present. */
  toJSON(): MessageBatch {
    const ts = (ms: number | null) => (ms === null ? null : rfc3339(ms));
    return {
      id: this.id,
      type: 'message_batch',
      processing_status: this.status,
      request_counts: this.requestCounts(),
      created_at: rfc3339(this.createdAt),
      expires_at: rfc3339(this.expiresAt),
      ended_at: ts(this.endedAt),
      cancel_initiated_at: ts(this.cancelInitiatedAt),
      archived_at: ts(this.archivedAt),
      results_url: this.status === 'ended' ? this.resultsUrl : null,
    };
  }
}
