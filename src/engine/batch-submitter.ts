import type Anthropic from '@anthropic-ai/sdk';
import type { Driver } from '../db/driver.js';
import type { ResolvedConfig } from '../config.js';
import type { Tables } from '../store/tables.js';
import { abandonBatch, claimBatchIterations, markBatchSubmitted, type ClaimedIteration } from '../store/batches.js';
import { loadRequestContexts } from '../store/context.js';
import { failIteration, requeueIterations } from '../store/iterations.js';
import { buildRequest } from '../claude/request.js';
import type { Hooks } from './hooks.js';
import { Loop } from './loop.js';
import type { LeaseHolder } from '../maintenance/leases.js';
import { retryTransient } from '../maintenance/retry.js';

/** The API accepts 256 MB per batch; stay clear of it with room for the envelope. */
const MAX_BATCH_BYTES = 200 * 1024 * 1024;

/**
 * Coalesces pending batch-mode iterations of many runs into one Message Batch per flush. The batch row
 * (the intent) is committed before the API call and the API's batch id right after it.
 */
export class BatchSubmitter {
  readonly loop: Loop;

  constructor(
    private readonly driver: Driver,
    private readonly t: Tables,
    private readonly config: ResolvedConfig,
    private readonly anthropic: () => Anthropic,
    private readonly hooks: Hooks,
    private readonly leases?: LeaseHolder,
  ) {
    this.loop = new Loop('batch submitter', () => this.tick(), config.runPollIntervalMs, config.logger);
  }

  private async tick(): Promise<number | null> {
    const { maxRequests, flushIntervalMs } = this.config.batch;
    const decision = await this.driver.transaction((tx) =>
      claimBatchIterations(tx, this.t, { instanceId: this.config.instanceId, maxRequests, flushIntervalMs, leaseMs: this.config.leaseMs }),
    );
    switch (decision.kind) {
      case 'busy':
        return Math.min(flushIntervalMs, 100);
      case 'empty':
        return decision.nextDueInMs;
      case 'wait':
        return decision.inMs;
      case 'claimed': {
        // The intent's lease is renewed while we build and send it (the leader rescues it if we die).
        const done = this.leases?.hold('batch', decision.batchId);
        try {
          await this.submit(decision.batchId, decision.iterations);
        } finally {
          done?.();
        }
        return 0;
      }
    }
  }

  private async submit(batchId: string, claimed: ClaimedIteration[]): Promise<void> {
    const log = this.config.logger;
    const contexts = await loadRequestContexts(this.driver, this.t, claimed.map((c) => c.iterationId));
    const requests: Anthropic.Messages.BatchCreateParams.Request[] = [];
    const overflow: string[] = [];
    let bytes = 0;
    for (const ctx of contexts) {
      const built = buildRequest(ctx, { maxTokens: this.config.defaultMaxTokens });
      if (!built.ok) {
        await failIteration(this.driver, this.t, {
          iterationId: ctx.iterationId,
          fromStates: ['submitting'],
          errorType: built.errorType,
          message: built.message,
        });
        continue;
      }
      const size = Buffer.byteLength(JSON.stringify(built.params)) + 100;
      if (bytes + size > MAX_BATCH_BYTES && requests.length > 0) {
        overflow.push(ctx.iterationId);
        continue;
      }
      bytes += size;
      requests.push({ custom_id: ctx.iterationId, params: built.params });
    }
    if (overflow.length > 0) {
      await requeueIterations(this.driver, this.t, {
        iterationIds: overflow,
        fromStates: ['submitting'],
        batchId,
        delayMs: 0,
        countAttempt: false,
        reason: 'moved to the next batch (size limit)',
      });
    }
    if (requests.length === 0) {
      await abandonBatch(this.driver, this.t, batchId, this.config.instanceId, 'no request could be built');
      return;
    }
    const submitted = new Set(requests.map((r) => r.custom_id));
    let created: Anthropic.Messages.MessageBatch;
    try {
      // Past our lease the intent may be rescued and resubmitted: never wait longer than that.
      created = await this.anthropic().messages.batches.create({ requests }, { timeout: Math.max(1000, Math.floor(this.config.leaseMs * 0.8)) });
    } catch (err) {
      const message = apiErrorMessage(err);
      log.warn('batch submitter: creating the batch failed; requeueing', { batchId, requests: requests.length, error: message });
      await abandonBatch(this.driver, this.t, batchId, this.config.instanceId, message);
      await this.requeueOrFail(
        claimed.filter((c) => submitted.has(c.iterationId)),
        batchId,
        'api_error',
        `creating the message batch failed: ${message}`,
      );
      return;
    }
    // The batch exists now: keep its id across a dropped connection, or it would be resubmitted (and paid) twice.
    const ok = await retryTransient(
      () =>
        markBatchSubmitted(this.driver, this.t, {
          batchId,
          instanceId: this.config.instanceId,
          anthropicBatchId: created.id,
          status: created.processing_status,
          expiresAt: created.expires_at ?? null,
          requestCount: requests.length,
          pollIntervalMs: this.config.batch.pollIntervalMs,
        }),
      { deadlineMs: this.config.leaseMs },
    );
    if (!ok) {
      // Our intent was rescued while the API call ran: its iterations are queued again. This batch would
      // only cost money (its results can never be applied), so cancel it.
      log.warn('batch submitter: lease lost during submission; cancelling the orphan batch', { batchId, anthropicBatchId: created.id });
      await this.anthropic().messages.batches.cancel(created.id).catch(() => {});
      return;
    }
    log.debug('batch submitted', { batchId, anthropicBatchId: created.id, requests: requests.length });
    for (const ctx of contexts) {
      if (!submitted.has(ctx.iterationId)) continue;
      this.hooks.emit('onIterationStart', { runId: ctx.runId, iterationId: ctx.iterationId, index: ctx.iterationNumber, mode: 'batch' });
      this.hooks.emit('onRunStateChange', { runId: ctx.runId, state: 'batch_pending' });
    }
  }

  /** Transient failures requeue with backoff; an iteration past `maxRequeues` fails its run with the cause. */
  private async requeueOrFail(items: ClaimedIteration[], batchId: string, errorType: string, message: string): Promise<void> {
    const { maxRequeues, requeueDelayMs } = this.config.batch;
    const again = items.filter((c) => c.attempt < maxRequeues).map((c) => c.iterationId);
    await requeueIterations(this.driver, this.t, {
      iterationIds: again,
      fromStates: ['submitting'],
      batchId,
      delayMs: requeueDelayMs,
      countAttempt: true,
      reason: message,
    });
    for (const c of items.filter((i) => i.attempt >= maxRequeues)) {
      await failIteration(this.driver, this.t, { iterationId: c.iterationId, fromStates: ['submitting'], errorType, message });
    }
  }
}

export function apiErrorMessage(err: unknown): string {
  const e = err as { status?: number; message?: string; error?: { error?: { message?: string } } };
  const detail = e?.error?.error?.message ?? e?.message ?? String(err);
  return e?.status ? `${e.status} ${detail}` : detail;
}
