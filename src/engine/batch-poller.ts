import type Anthropic from '@anthropic-ai/sdk';
import type { Driver, Queryable } from '../db/driver.js';
import type { ResolvedConfig } from '../config.js';
import type { Tables } from '../store/tables.js';
import { claimBatchesToPoll, endBatch, nextBatchPollInMs, releaseBatch, renewBatchLease, type PollableBatch } from '../store/batches.js';
import { failIteration, requeueIterations } from '../store/iterations.js';
import { num } from '../store/convert.js';
import { applyResponse } from './apply-response.js';
import { applyCommonResponses, commonResponse } from './completer.js';
import type { ResponseToRecord } from '../store/responses.js';
import { apiErrorMessage } from './batch-submitter.js';
import type { Hooks } from './hooks.js';
import { Loop } from './loop.js';
import type { LeaseHolder } from '../maintenance/leases.js';

const CHUNK = 200;

/**
 * Polls in-progress batches (one lease per batch, so one instance polls it at a time and any instance can
 * take over), and when a batch has ended streams its results file and applies every line to its iteration.
 */
export class BatchPoller {
  readonly loop: Loop;

  constructor(
    private readonly driver: Driver,
    private readonly t: Tables,
    private readonly config: ResolvedConfig,
    private readonly anthropic: () => Anthropic,
    private readonly hooks: Hooks,
    private readonly leases?: LeaseHolder,
  ) {
    this.loop = new Loop('batch poller', () => this.tick(), config.batch.pollIntervalMs, config.logger);
  }

  private async tick(): Promise<number | null> {
    const batches = await claimBatchesToPoll(this.driver, this.t, { instanceId: this.config.instanceId, limit: 10, leaseMs: this.config.leaseMs });
    await Promise.all(
      batches.map(async (b) => {
        // Renewed while we poll and apply; if the poll throws, the lease is simply left to expire.
        const done = this.leases?.hold('batch', b.id);
        try {
          await this.poll(b);
        } finally {
          done?.();
        }
      }),
    );
    if (batches.length > 0) return 0;
    return nextBatchPollInMs(this.driver, this.t);
  }

  private async poll(b: PollableBatch): Promise<void> {
    const log = this.config.logger;
    const release = (status: string, inMs: number) =>
      releaseBatch(this.driver, this.t, { batchId: b.id, instanceId: this.config.instanceId, status, nextPollInMs: inMs });
    let status: Anthropic.Messages.MessageBatch;
    try {
      status = await this.anthropic().messages.batches.retrieve(b.anthropicBatchId);
    } catch (err) {
      log.warn('batch poller: retrieving the batch failed; will poll again', { batchId: b.id, error: apiErrorMessage(err) });
      await release('unknown', this.config.batch.pollIntervalMs);
      return;
    }
    if (status.processing_status !== 'ended') {
      await release(status.processing_status, this.config.batch.pollIntervalMs);
      return;
    }
    try {
      const results = await this.anthropic().messages.batches.results(b.anthropicBatchId);
      let chunk: Anthropic.Messages.MessageBatchIndividualResponse[] = [];
      for await (const line of results) {
        chunk.push(line);
        if (chunk.length >= CHUNK) {
          await this.applyChunk(b, chunk);
          chunk = [];
          if (!(await renewBatchLease(this.driver, this.t, b.id, this.config.instanceId, this.config.leaseMs))) return;
        }
      }
      if (chunk.length > 0) await this.applyChunk(b, chunk);
      const missing = await endBatch(this.driver, this.t, b.id, this.config.instanceId);
      if (missing.length > 0) {
        log.warn('batch poller: iterations without a result line; requeueing', { batchId: b.id, count: missing.length });
        await requeueIterations(this.driver, this.t, {
          iterationIds: missing,
          fromStates: ['in_batch'],
          batchId: b.id,
          delayMs: 0,
          countAttempt: true,
          reason: 'the batch ended without a result for this request',
        });
      }
    } catch (err) {
      // Applied lines are guarded, so reading the file again later skips them.
      log.warn('batch poller: reading results failed; will retry', { batchId: b.id, error: apiErrorMessage(err) });
      await release('ended', Math.min(this.config.batch.pollIntervalMs, 5000));
    }
  }

  private async applyChunk(b: PollableBatch, lines: Anthropic.Messages.MessageBatchIndividualResponse[]): Promise<void> {
    await this.driver.transaction(async (tx) => {
      const attempts = await pendingAttempts(tx, this.t, b.id, lines.map((l) => l.custom_id));
      // Completions and tool calls (most lines) are recorded together in one statement; the rest line by line.
      const policy = { maxTokensBehavior: this.config.maxTokensBehavior };
      const common: { item: ResponseToRecord; stopReason: string | null }[] = [];
      for (const line of lines) {
        const attempt = attempts.get(line.custom_id);
        if (attempt === undefined) continue; // applied before, or not ours any more
        const r = line.result;
        const item =
          r.type === 'succeeded' ? commonResponse({ iterationId: line.custom_id, batchId: b.id, leaseOwner: null, message: r.message }, policy) : null;
        if (item && r.type === 'succeeded') common.push({ item, stopReason: r.message.stop_reason });
        else await this.applyLine(tx, b, line, attempt);
      }
      if (common.length === 0) return;
      const applied = await applyCommonResponses(tx, this.t, this.config, ['in_batch'], common.map((c) => c.item));
      for (const { item, stopReason } of common) {
        const a = applied.get(item.iterationId);
        if (!a) continue;
        this.hooks.emit('onIterationEnd', { runId: a.runId, iterationId: item.iterationId, index: a.iteration, stopReason, outcome: a.outcome });
        this.hooks.emit('onRunStateChange', { runId: a.runId, state: a.runState });
      }
    });
  }

  private async applyLine(tx: Queryable, b: PollableBatch, line: Anthropic.Messages.MessageBatchIndividualResponse, attempt: number): Promise<void> {
    const r = line.result;
    const iterationId = line.custom_id;
    if (r.type === 'succeeded') {
      const applied = await applyResponse(tx, this.t, {
        iterationId,
        fromStates: ['in_batch'],
        batchId: b.id,
        leaseOwner: null,
        message: r.message,
        policy: { maxTokensBehavior: this.config.maxTokensBehavior },
        defaultToolAttempts: this.config.toolRetry.maxAttempts,
      });
      if (applied) {
        this.hooks.emit('onIterationEnd', { runId: applied.runId, iterationId, index: applied.iteration, stopReason: r.message.stop_reason, outcome: applied.outcome });
        this.hooks.emit('onRunStateChange', { runId: applied.runId, state: applied.runState });
      }
      return;
    }
    if (r.type === 'errored' && r.error.error.type === 'invalid_request_error') {
      await failIteration(tx, this.t, {
        iterationId,
        fromStates: ['in_batch'],
        errorType: 'invalid_request',
        message: `Claude rejected the request: ${r.error.error.message}`,
      });
      return;
    }
    const why = r.type === 'errored' ? `${r.error.error.type}: ${r.error.error.message}` : `the batch request was ${r.type}`;
    if (attempt < this.config.batch.maxRequeues) {
      await requeueIterations(tx, this.t, {
        iterationIds: [iterationId],
        fromStates: ['in_batch'],
        batchId: b.id,
        delayMs: this.config.batch.requeueDelayMs,
        countAttempt: true,
        reason: why,
      });
    } else {
      await failIteration(tx, this.t, {
        iterationId,
        fromStates: ['in_batch'],
        errorType: r.type === 'errored' ? 'api_error' : `batch_${r.type}`,
        message: `gave up after ${attempt + 1} attempts: ${why}`,
      });
    }
  }
}

/** Attempts of the iterations of this batch that still await their result (one query per chunk). */
async function pendingAttempts(db: Queryable, t: Tables, batchId: string, ids: string[]): Promise<Map<string, number>> {
  const valid = ids.filter((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id));
  const { rows } = await db.query<{ id: string; attempt: unknown }>(
    `SELECT id, attempt FROM ${t.iterations} WHERE id = ANY($1::uuid[]) AND batch_id = $2 AND state = 'in_batch'`,
    [valid, batchId],
  );
  return new Map(rows.map((r) => [r.id, num(r.attempt)]));
}
