import type { Driver } from '../db/driver.js';
import type { ResolvedConfig } from '../config.js';
import type { Tool, ToolOutput } from '../tools/define.js';
import { ToolCancelError, ToolDiscardError, ToolSnoozeError } from '../tools/errors.js';
import type { JsonValue } from '../types.js';
import type { Tables } from '../store/tables.js';
import { claimToolWork, finishToolExecution, finishToolExecutions, type ClaimedExecution, type ExecutionFinish } from '../store/tool-executions.js';
import { continueAfterTools, continueRunsAfterTools, lockRun, lockRuns } from '../store/transitions.js';
import { transactionWithRetry } from '../db/retry.js';
import { Batcher, type Queued } from './batcher.js';
import { retryDelayMs } from './backoff.js';
import type { Hooks } from './hooks.js';
import { Loop } from './loop.js';
import type { LeaseHolder } from '../maintenance/leases.js';
import { retryTransient } from '../maintenance/retry.js';

class ToolTimeoutError extends Error {}
/** The client is stopping: the call goes back to the queue without using an attempt. */
class HandBack extends Error {}

/**
 * Claims and runs the tool calls this instance can serve, at most `maxConcurrentTools` at once. A tool's
 * exception, rejection or time-out becomes a retry or an error result; it never reaches the process.
 */
export class ToolRunner {
  readonly loop: Loop;
  private inFlight = 0;
  private readonly controllers = new Map<AbortController, string>();
  private readonly running = new Set<Promise<void>>();
  private readonly names: string[];
  /** Tool outcomes are recorded in batches: up to 200 per transaction, two transactions in flight. */
  private readonly recorder = new Batcher<{ exec: ClaimedExecution; finish: ExecutionFinish }, void>((b) => this.record(b), {
    maxBatch: 200,
    maxInFlight: 2,
  });

  constructor(
    private readonly driver: Driver,
    private readonly t: Tables,
    private readonly config: ResolvedConfig,
    private readonly tools: ReadonlyMap<string, Tool<unknown>>,
    private readonly hooks: Hooks,
    private readonly leases?: LeaseHolder,
  ) {
    this.names = [...tools.keys()];
    this.loop = new Loop('tool runner', () => this.tick(), config.toolPollIntervalMs, config.logger);
  }

  /** Whether a notification about `toolName` concerns this instance. */
  serves(toolName: string): boolean {
    return this.tools.has(toolName);
  }

  private async tick(): Promise<number | null> {
    if (this.names.length === 0) return null;
    const free = this.config.maxConcurrentTools - this.inFlight;
    if (free <= 0) return null; // a finishing call wakes the loop
    const { claimed, limit, nextDueInMs } = await claimToolWork(this.driver, this.t, {
      instanceId: this.config.instanceId,
      toolNames: this.names,
      limit: free,
      leaseMs: this.config.leaseMs,
    });
    for (const exec of claimed) this.launch(exec);
    if (claimed.length === limit) return 0; // maybe more waiting
    return nextDueInMs;
  }

  private launch(exec: ClaimedExecution): void {
    this.inFlight++;
    const release = this.leases?.hold('tool', exec.id);
    const p = this.execute(exec)
      .catch((err) => this.config.logger.error('tool runner: recording a tool result failed', { executionId: exec.id, error: String(err) }))
      .finally(() => {
        release?.();
        this.inFlight--;
        this.running.delete(p);
        this.loop.wake();
      });
    this.running.add(p);
  }

  private async execute(exec: ClaimedExecution): Promise<void> {
    const tool = this.tools.get(exec.toolName)!;
    const maxAttempts = tool.maxAttempts ?? exec.maxAttempts ?? this.config.toolRetry.maxAttempts;
    const started = Date.now();
    const base = { runId: exec.runId, executionId: exec.id, toolName: exec.toolName, toolUseId: exec.toolUseId, attempt: exec.attempt };
    this.hooks.emit('onToolStart', { ...base, input: exec.input });
    const finish = await this.invoke(tool, exec, maxAttempts);
    this.hooks.emit('onToolEnd', {
      ...base,
      state: finish.kind === 'retry' ? 'retrying' : finish.kind === 'snooze' ? 'snoozed' : finish.kind === 'handback' ? 'handed_back' : finish.kind,
      isError: finish.kind !== 'completed',
      output: finish.kind === 'completed' ? finish.output : 'output' in finish ? finish.output : null,
      durationMs: Date.now() - started,
    });
    // The call has run: keep its outcome across a dropped connection or a database restart (the lease is
    // renewed meanwhile) rather than let it expire and run the tool again.
    await retryTransient(() => this.recorder.add({ exec, finish }), { deadlineMs: this.config.leaseMs });
  }

  /**
   * Records a batch of tool outcomes in one transaction: the runs' locks first (in id order), then every outcome
   * (guarded by our lease), then the continuation of each run whose current iteration has no call left. As with
   * one outcome per transaction, completions of a run serialise on its lock and exactly one continues it.
   * If the batch fails, its outcomes are recorded one by one, so one bad outcome fails alone.
   */
  private async record(batch: Queued<{ exec: ClaimedExecution; finish: ExecutionFinish }, void>[]): Promise<void> {
    const owner = this.config.instanceId;
    try {
      const dropped = await transactionWithRetry(this.driver, async (tx) => {
        await lockRuns(tx, this.t, batch.map((q) => q.item.exec.runId));
        const done = await finishToolExecutions(tx, this.t, owner, batch.map((q) => ({ id: q.item.exec.id, finish: q.item.finish })));
        const terminal = new Map<string, { runId: string; iterationId: string }>();
        for (const d of done) if (d.terminal) terminal.set(`${d.runId}/${d.iterationId}`, { runId: d.runId, iterationId: d.iterationId });
        await continueRunsAfterTools(tx, this.t, [...terminal.values()]);
        return batch.length - done.length;
      });
      if (dropped > 0) this.config.logger.debug('tool runner: leases lost before the results were recorded; dropped', { count: dropped });
      for (const q of batch) q.resolve();
      return;
    } catch (err) {
      if (batch.length === 1) throw err;
      this.config.logger.warn('tool runner: recording a batch of tool results failed; recording them one by one', { count: batch.length, error: String(err) });
    }
    for (const q of batch) {
      const { exec, finish } = q.item;
      try {
        await transactionWithRetry(this.driver, async (tx) => {
          // Every completion of a run takes its lock first: they serialise, and exactly one sees all done.
          await lockRun(tx, this.t, exec.runId);
          const done = await finishToolExecution(tx, this.t, exec.id, owner, finish);
          if (!done) {
            this.config.logger.debug('tool runner: lease lost before the result was recorded; dropped', { executionId: exec.id });
            return;
          }
          if (done.terminal) await continueAfterTools(tx, this.t, done.runId, done.iterationId);
        });
        q.resolve();
      } catch (err) {
        q.reject(err);
      }
    }
  }

  private async invoke(tool: Tool<unknown>, exec: ClaimedExecution, maxAttempts: number): Promise<ExecutionFinish> {
    const checked = tool.validate(exec.input);
    if (!checked.ok) {
      const detail = checked.issues.map((i) => `${i.path || '(input)'}: ${i.message}`).join('; ');
      const msg = `Error: invalid input for tool "${tool.name}": ${detail}. Call the tool again with input matching its schema.`;
      return { kind: 'failed', output: msg, error: `invalid input: ${detail}` };
    }
    const controller = new AbortController();
    this.controllers.set(controller, exec.runId);
    const timeoutMs = tool.timeoutMs ?? this.config.toolTimeoutMs;
    // A tool that ignores its signal is not waited for: the abort settles the call either way.
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
    });
    const timer = setTimeout(() => controller.abort(new ToolTimeoutError(`tool "${tool.name}" timed out after ${timeoutMs} ms`)), timeoutMs);
    try {
      const output = await Promise.race([
        Promise.resolve().then(() =>
          tool.execute(checked.value, {
            runId: exec.runId,
            sessionId: exec.sessionId,
            agentId: exec.agentId,
            iterationId: exec.iterationId,
            toolUseId: exec.toolUseId,
            executionId: exec.id,
            attempt: exec.attempt,
            variables: exec.variables,
            signal: controller.signal,
          }),
        ),
        aborted,
      ]);
      return { kind: 'completed', output: normaliseOutput(output) };
    } catch (err) {
      return this.classifyError(err, exec, maxAttempts);
    } finally {
      clearTimeout(timer);
      this.controllers.delete(controller);
    }
  }

  private classifyError(err: unknown, exec: ClaimedExecution, maxAttempts: number): ExecutionFinish {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof HandBack) return { kind: 'handback' };
    if (err instanceof ToolSnoozeError) return { kind: 'snooze', delayMs: err.delayMs };
    if (err instanceof ToolCancelError) return { kind: 'cancelled', output: `Error: the tool call was cancelled: ${message}`, error: message };
    if (err instanceof ToolDiscardError) return { kind: 'discarded', output: `Error: ${message}`, error: message };
    if (exec.attempt < maxAttempts) {
      return { kind: 'retry', delayMs: retryDelayMs(this.config.toolRetry, exec.attempt), error: message };
    }
    const tries = exec.attempt === 1 ? '' : ` (after ${exec.attempt} attempts)`;
    return { kind: 'failed', output: `Error: ${message}${tries}`, error: message };
  }

  /** Aborts the running calls of a cancelled run: their signal fires; their rows already refuse any result. */
  abortRun(runId: string): void {
    for (const [c, id] of this.controllers) if (id === runId) c.abort(new HandBack('the run was cancelled'));
  }

  /** Aborts running tools (their results are still recorded if they settle) and waits for them up to `deadlineMs`. */
  async drain(deadlineMs: number): Promise<void> {
    const all = Promise.allSettled([...this.running]);
    const deadline = new Promise((r) => setTimeout(r, deadlineMs).unref());
    await Promise.race([all, deadline]);
    for (const c of this.controllers.keys()) c.abort(new HandBack('agentpg client is stopping'));
    await Promise.allSettled([...this.running]);
  }
}

/** Strings and blocks go to the model as they are; other values as JSON text. */
function normaliseOutput(output: ToolOutput): JsonValue {
  if (typeof output === 'string') return output;
  if (Array.isArray(output) && output.every((b) => b && typeof b === 'object' && typeof (b as { type?: unknown }).type === 'string')) {
    return output as JsonValue;
  }
  if (output === undefined) return '';
  return JSON.stringify(output);
}
