import type { Driver } from '../db/driver.js';
import type { ResolvedConfig } from '../config.js';
import type { Tables } from '../store/tables.js';
import { completeDelegation, finishedDelegations, pendingDelegations, startDelegation } from '../store/delegation.js';
import { transactionWithRetry } from '../db/retry.js';
import { Loop } from './loop.js';

/**
 * Agent-as-tool: starts a child run for each agent-tool call, and turns each finished child run into its
 * parent's tool result. Any instance does this; no tool registration is needed.
 */
export class Delegator {
  readonly loop: Loop;

  constructor(
    private readonly driver: Driver,
    private readonly t: Tables,
    private readonly config: ResolvedConfig,
  ) {
    this.loop = new Loop('delegator', () => this.tick(), config.toolPollIntervalMs, config.logger);
  }

  private async tick(): Promise<number | null> {
    const finished = await finishedDelegations(this.driver, this.t, 100);
    for (const f of finished) {
      await transactionWithRetry(this.driver, (tx) => completeDelegation(tx, this.t, f.id, f.runId));
    }
    const pending = await pendingDelegations(this.driver, this.t, 100);
    for (const p of pending) {
      await transactionWithRetry(this.driver, (tx) =>
        startDelegation(tx, this.t, {
          executionId: p.id,
          runId: p.runId,
          maxDepth: this.config.maxDelegationDepth,
          maxIterations: this.config.defaultMaxIterations,
          instanceId: this.config.instanceId,
        }),
      );
    }
    return finished.length + pending.length > 0 ? 0 : null;
  }
}
