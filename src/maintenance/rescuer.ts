import type { Driver } from '../db/driver.js';
import type { ResolvedConfig } from '../config.js';
import type { Tables } from '../store/tables.js';
import type { LeaderTerm } from '../store/leader.js';
import { continueAfterTools, failRun, lockRun } from '../store/transitions.js';
import {
  deleteDeadInstances,
  exhaustedToolExecutions,
  failExhaustedToolExecution,
  failUnclaimableToolExecutions,
  markUnclaimableToolExecutions,
  overdueUnclaimable,
  requeueExpiredToolExecutions,
  rescueExpiredStreams,
  rescueExpiredSubmissions,
  writeToolResultsMessage,
} from '../store/rescue.js';
import { transactionWithRetry } from '../db/retry.js';
import { Loop } from '../engine/loop.js';

const PER_TICK = 100;

/**
 * The leader's rescuer: returns claims whose owner stopped renewing them to the queue. A tool call goes back
 * to pending with the attempt it used counted (an error result when none is left); a batch submission whose
 * submitter vanished before recording the API's answer is abandoned and its iterations requeued; a streaming
 * call goes back to pending to be called again. Model calls count attempts too: one lost more than
 * `batch.maxRequeues` times fails its run (`worker_lost`) rather than loop forever. Batches being polled need nothing: any poller takes over an
 * expired poll lease and keeps polling the same batch, which is never resubmitted while it may still finish.
 */
export class Rescuer {
  readonly loop: Loop;

  constructor(
    private readonly driver: Driver,
    private readonly t: Tables,
    private readonly config: ResolvedConfig,
    private readonly term: () => LeaderTerm | null,
  ) {
    this.loop = new Loop('rescuer', () => this.tick(), Math.max(50, Math.floor(config.leaseMs / 4)), config.logger);
  }

  private async tick(): Promise<number | null> {
    const term = this.term();
    if (!term) return null;
    const { driver, t, config } = this;
    const tools = await requeueExpiredToolExecutions(driver, t, term);
    const exhausted = await exhaustedToolExecutions(driver, t, PER_TICK);
    let failed = 0;
    for (const e of exhausted) {
      await transactionWithRetry(driver, async (tx) => {
        await lockRun(tx, t, e.runId);
        if (!(await failExhaustedToolExecution(tx, t, term, e.id))) return;
        failed++;
        await continueAfterTools(tx, t, e.runId, e.iterationId);
      });
    }
    const submissions = await rescueExpiredSubmissions(driver, t, term, config.batch.maxRequeues);
    const streams = await rescueExpiredStreams(driver, t, term, config.batch.maxRequeues);
    if (tools + failed + submissions + streams > 0) {
      config.logger.info('rescuer: returned expired claims to the queue', { tools, toolsOutOfAttempts: failed, submissions, streams });
    }
    return exhausted.length === PER_TICK ? 0 : null;
  }
}

/**
 * The leader's cleaner: removes instances without a heartbeat for `instanceTtlMs` (their claims have expired
 * or will, and the rescuer returns them: no run fails because an instance died), and watches tool calls no
 * live instance can run. Those are stamped (visible as `run.blocked`) and, once unclaimable for
 * `unclaimedToolTimeoutMs`, their run fails with `tool_unavailable`, every tool_use still answered.
 */
export class Cleaner {
  readonly loop: Loop;

  constructor(
    private readonly driver: Driver,
    private readonly t: Tables,
    private readonly config: ResolvedConfig,
    private readonly term: () => LeaderTerm | null,
    private readonly onDeadInstances: (ids: string[]) => void = () => {},
  ) {
    this.loop = new Loop('cleaner', () => this.tick(), Math.max(50, Math.min(config.heartbeatIntervalMs, 10_000)), config.logger);
  }

  private async tick(): Promise<number | null> {
    const term = this.term();
    if (!term) return null;
    const { driver, t, config } = this;
    const dead = await deleteDeadInstances(driver, t, term, config.instanceTtlMs);
    if (dead.length > 0) {
      config.logger.warn('cleaner: removed instances without a heartbeat; their claims go back to the queue as they expire', { instances: dead });
      this.onDeadInstances(dead);
    }
    const blocked = await markUnclaimableToolExecutions(driver, t, term, config.instanceTtlMs);
    if (blocked === 0) return null;
    const overdue = await overdueUnclaimable(driver, t, config.unclaimedToolTimeoutMs, PER_TICK);
    for (const o of overdue) {
      const names = o.tools.map((n) => `"${n}"`).join(', ');
      const message =
        `no live agentpg instance has registered tool ${names} for ${Math.round(config.unclaimedToolTimeoutMs / 1000)} s ` +
        '(unclaimedToolTimeoutMs); start a worker that registers it with registerTool()';
      const failed = await transactionWithRetry(driver, async (tx) => {
        await lockRun(tx, t, o.runId);
        if (!(await failUnclaimableToolExecutions(tx, t, term, { iterationId: o.iterationId, timeoutMs: config.unclaimedToolTimeoutMs }))) return false;
        await failRun(tx, t, o.runId, 'tool_unavailable', message);
        await writeToolResultsMessage(tx, t, o.runId, o.iterationId);
        return true;
      });
      if (failed) config.logger.warn('cleaner: run failed: its tool call could not be claimed by any live instance', { runId: o.runId, tools: o.tools });
    }
    return overdue.length === PER_TICK ? 0 : null;
  }
}
