import Anthropic from '@anthropic-ai/sdk';
import type { Driver } from '../db/driver.js';
import type { ResolvedConfig } from '../config.js';
import type { Tables } from '../store/tables.js';
import { claimStreamingWork, failIteration, requeueIterations, type ClaimedStream, type ClaimedStreamContext } from '../store/iterations.js';
import { buildRequest } from '../claude/request.js';
import { ResponseCompleter } from './completer.js';
import { apiErrorMessage } from './batch-submitter.js';
import type { DeltaPublisher } from './events.js';
import type { Hooks } from './hooks.js';
import { Loop } from './loop.js';
import type { LeaseHolder } from '../maintenance/leases.js';
import { retryTransient } from '../maintenance/retry.js';

/**
 * Fast mode: claims pending streaming iterations and runs each through the streaming Messages API, up to
 * `maxConcurrentStreamingRuns` at once (a slow stream never blocks the others). Text deltas are published
 * for live followers; the final message is applied exactly like a batch result.
 */
export class Streamer {
  readonly loop: Loop;
  private inFlight = 0;
  private readonly active = new Map<string, { runId: string; controller: AbortController; done: Promise<void> }>();
  private readonly completer: ResponseCompleter;

  constructor(
    private readonly driver: Driver,
    private readonly t: Tables,
    private readonly config: ResolvedConfig,
    private readonly anthropic: () => Anthropic,
    private readonly deltas: DeltaPublisher,
    private readonly hooks: Hooks,
    private readonly leases?: LeaseHolder,
  ) {
    this.loop = new Loop('streamer', () => this.tick(), config.runPollIntervalMs, config.logger);
    this.completer = new ResponseCompleter(driver, t, config, ['streaming'], (p) => deltas.publish(p));
  }

  private async tick(): Promise<number | null> {
    const free = this.config.maxConcurrentStreamingRuns - this.inFlight;
    if (free <= 0) return null;
    // One statement claims the iterations and loads everything their requests need.
    const { claimed, limit, nextDueInMs } = await claimStreamingWork(this.driver, this.t, {
      instanceId: this.config.instanceId,
      limit: free,
      leaseMs: this.config.leaseMs,
    });
    for (const c of claimed) this.launch(c);
    if (claimed.length === limit) return 0; // maybe more waiting
    return nextDueInMs;
  }

  private launch(c: ClaimedStreamContext): void {
    this.inFlight++;
    const controller = new AbortController();
    // Renewed while we stream and record; if we lose track of it (an error), the lease expires and is rescued.
    const release = this.leases?.hold('iteration', c.iterationId);
    const done = this.stream(c, controller)
      .catch((err) => this.config.logger.error('streamer: unexpected failure', { iterationId: c.iterationId, error: String(err) }))
      .finally(() => {
        release?.();
        this.inFlight--;
        this.active.delete(c.iterationId);
        this.loop.wake();
      });
    this.active.set(c.iterationId, { runId: c.runId, controller, done });
  }

  /** Aborts in-flight streams of a run (it was cancelled); their results could not be applied anyway. */
  abortRun(runId: string): void {
    for (const a of this.active.values()) if (a.runId === runId) a.controller.abort(new Error('run cancelled'));
  }

  private async stream(c: ClaimedStreamContext, controller: AbortController): Promise<void> {
    const owner = this.config.instanceId;
    const ctx = c.context;
    const built = buildRequest(ctx, { maxTokens: this.config.defaultMaxTokens });
    if (!built.ok) {
      await failIteration(this.driver, this.t, { iterationId: c.iterationId, fromStates: ['streaming'], errorType: built.errorType, message: built.message });
      return;
    }
    this.hooks.emit('onIterationStart', { runId: c.runId, iterationId: c.iterationId, index: ctx.iterationNumber, mode: 'streaming' });
    let message: Anthropic.Message;
    try {
      const stream = this.anthropic().messages.stream(built.params, { signal: controller.signal });
      stream.on('text', (delta) => this.deltas.push(c.runId, ctx.iterationNumber, delta));
      message = await stream.finalMessage();
    } catch (err) {
      this.deltas.flush(c.runId);
      if (controller.signal.aborted) return; // cancelled: the cancel already moved every row
      await this.onError(c, err);
      return;
    }
    // The end of the streamed text goes out with the statement that records the response (batched with others).
    const events = this.deltas.take(c.runId);
    // The model call is paid for: keep its response across a dropped connection rather than call again.
    const applied = await retryTransient(
      () => this.completer.apply({ iterationId: c.iterationId, batchId: null, leaseOwner: owner, message, events }),
      { deadlineMs: this.config.leaseMs },
    );
    if (applied) {
      this.hooks.emit('onIterationEnd', {
        runId: c.runId,
        iterationId: c.iterationId,
        index: ctx.iterationNumber,
        stopReason: message.stop_reason,
        outcome: applied.outcome,
      });
      this.hooks.emit('onRunStateChange', { runId: c.runId, state: applied.runState });
    }
  }

  private async onError(c: ClaimedStream, err: unknown): Promise<void> {
    const message = apiErrorMessage(err);
    const status = err instanceof Anthropic.APIError ? err.status : undefined;
    const permanent = status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 409 && status !== 429;
    if (permanent) {
      await failIteration(this.driver, this.t, {
        iterationId: c.iterationId,
        fromStates: ['streaming'],
        errorType: status === 400 || status === 413 ? 'invalid_request' : 'api_error',
        message: `Claude rejected the request: ${message}`,
      });
      return;
    }
    if (c.attempt < this.config.batch.maxRequeues) {
      this.config.logger.warn('streamer: model call failed; retrying', { iterationId: c.iterationId, error: message });
      await requeueIterations(this.driver, this.t, {
        iterationIds: [c.iterationId],
        fromStates: ['streaming'],
        batchId: null,
        delayMs: this.config.batch.requeueDelayMs * 2 ** c.attempt,
        countAttempt: true,
        reason: message,
        leaseOwner: this.config.instanceId,
      });
      return;
    }
    await failIteration(this.driver, this.t, {
      iterationId: c.iterationId,
      fromStates: ['streaming'],
      errorType: 'api_error',
      message: `gave up after ${c.attempt + 1} attempts: ${message}`,
    });
  }

  /** Waits for in-flight streams up to `deadlineMs`, then aborts the rest and hands their iterations back. */
  async drain(deadlineMs: number): Promise<void> {
    const all = Promise.allSettled([...this.active.values()].map((a) => a.done));
    await Promise.race([all, new Promise((r) => setTimeout(r, deadlineMs).unref())]);
    const rest = [...this.active.entries()];
    for (const [, a] of rest) a.controller.abort(new Error('agentpg client is stopping'));
    await Promise.allSettled(rest.map(([, a]) => a.done));
    if (rest.length > 0) {
      await requeueIterations(this.driver, this.t, {
        iterationIds: rest.map(([id]) => id),
        fromStates: ['streaming'],
        batchId: null,
        delayMs: 0,
        countAttempt: false,
        reason: 'handed back: the instance stopped',
        leaseOwner: this.config.instanceId,
      });
    }
  }
}
